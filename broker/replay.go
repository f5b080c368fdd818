package broker

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/providers"
)

// Single use across replicas, enforced by the database's replay cache: a flow
// (OIDC-01), an upstream assertion (SAML-23), a LogoutRequest. Providers only
// report the keys of what they verified (providers.ReplayKey); the broker
// records them where it acts on the message, for a sign-in in the same
// transaction as the session (store.SignIn.Used), so all of it commits or none.

// flowKey makes a flow single-use until it could no longer be taken anyway.
func flowKey(f flow) store.ReplayKey {
	return store.ReplayKey{Key: "flow:" + f.ID, ExpiresAt: time.Unix(f.Created, 0).Add(flowTTL + time.Minute)}
}

// replayKeys are a provider's keys as the store records them.
func replayKeys(ks []providers.ReplayKey) []store.ReplayKey {
	out := make([]store.ReplayKey, len(ks))
	for i, k := range ks {
		out[i] = store.ReplayKey(k)
	}
	return out
}

// refuseSpentFlow refuses a flow already used on any replica before its
// response is verified: no second code exchange or signature check for it.
// It decides nothing for concurrent uses: recording flowKey does.
func (s *Server) refuseSpentFlow(r *http.Request, providerID string, f flow) error {
	spent, err := s.store.Replay().Used(r.Context(), flowKey(f).Key, s.Now())
	if err != nil {
		return err
	}
	if spent {
		return s.refuse(r, providerID, "flow_replayed", errors.New("flow already used"))
	}
	return nil
}

// spend records keys where no session is started with them: a link, an
// unsolicited response waiting for confirmation, a logout, a refusal.
func (s *Server) spend(r *http.Request, providerID, action string, keys []store.ReplayKey) error {
	now := s.Now()
	for _, k := range keys {
		if err := s.store.Replay().Remember(r.Context(), k.Key, k.ExpiresAt, now); err != nil {
			return s.replayFailure(r, providerID, action, err)
		}
	}
	return nil
}

// replayFailure refuses a response whose key was already recorded with the page
// and audit reason of a replay (providers.ErrReplay); other errors pass as they
// are.
func (s *Server) replayFailure(r *http.Request, providerID, action string, err error) error {
	if errors.Is(err, store.ErrAlreadyUsed) {
		return s.upstreamFailure(r, providerID, action, fmt.Errorf("%w: %w", providers.ErrReplay, err))
	}
	return err
}
