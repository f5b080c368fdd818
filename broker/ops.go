package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/broker/revoke"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
)

// handleHealthz says the process is up; it checks nothing else, so an orchestrator
// does not restart a healthy process because its database blipped.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// handleReadyz says whether this replica can serve: its database answers.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status, code := "ok", http.StatusOK
	db := "ok"
	if err := s.store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: database unreachable", "request_id", web.RequestID(ctx), "error", err.Error())
		status, code, db = "unavailable", http.StatusServiceUnavailable, "unreachable"
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": map[string]string{"database": db}})
}

// writeJSON writes v as the whole response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// Maintain runs housekeeping every interval until ctx ends: signing-key promotion
// and retirement, sweeping expired sessions, codes, refresh tokens and replay
// entries so stored state stays bounded (DOS-12), and ending expired delegations. Every replica may run it; each
// step is idempotent.
func (s *Server) Maintain(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.maintainOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) maintainOnce(ctx context.Context) {
	now := s.Now()
	if err := s.keys.Maintain(ctx); err != nil && ctx.Err() == nil {
		s.log.ErrorContext(ctx, "maintenance: signing keys", "error", err.Error())
	}
	// SAML metadata configured by URL is refetched on its schedule; a failed
	// fetch keeps the last good copy (SAML-48/49).
	s.upstreams.RefreshMetadata(ctx)
	sweeps := []struct {
		what string
		run  func() (int64, error)
	}{
		{"sessions", func() (int64, error) { return s.sweepSessions(ctx, now) }},
		{"authorization codes", func() (int64, error) { return s.store.Codes().DeleteExpired(ctx, now) }},
		{"device authorizations", func() (int64, error) { return s.store.DeviceAuthorizations().DeleteExpired(ctx, now) }},
		{"refresh tokens", func() (int64, error) { return s.store.RefreshTokens().DeleteExpired(ctx, now) }},
		{"replay cache", func() (int64, error) { return s.store.Replay().DeleteExpired(ctx, now) }},
		{"token revocations", func() (int64, error) { return s.store.Revocations().DeleteExpired(ctx, now) }},
		// Expiry is an event (issue 11): audited, and what was issued under the
		// delegation revoked now rather than refused at its next use.
		{"expired delegations", func() (int64, error) { return s.delegations.EndExpired(ctx) }},
	}
	for _, sw := range sweeps {
		n, err := sw.run()
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "maintenance: sweep failed", "what", sw.what, "error", err.Error())
			}
			continue
		}
		if n > 0 {
			s.log.DebugContext(ctx, "maintenance: swept", "what", sw.what, "rows", n)
		}
	}
}

// sweepBatch bounds the sessions one sweep query lists.
const sweepBatch = 500

// sessionsPerTx is the most expired sessions one transaction ends
// (revoke.Sessions: three statements however many); store.Store.InBatches
// sizes the transactions below it so that on SQLite each holds the one writer
// for a few milliseconds.
const sessionsPerTx = 50

// sweepSessions ends the sessions past their idle or absolute limit as a logout
// does (revoke.Sessions): what was issued under each is revoked first, and only
// then is its row deleted, so a crash or a failed revocation leaves the rows for
// the next sweep instead of refresh tokens nobody will revoke. An expired row is
// never used meanwhile: web.Core.CurrentSession checks the limits itself.
func (s *Server) sweepSessions(ctx context.Context, now time.Time) (int64, error) {
	var ended int64
	for {
		ids, err := s.store.Sessions().ListExpired(ctx, now, now.Add(-s.cfg.SessionIdleTimeout), sweepBatch)
		if err != nil {
			return ended, err
		}
		err = s.store.InBatches(ctx, len(ids), sessionsPerTx, func(tx store.Store, from, to int) error {
			if _, err := revoke.Sessions(ctx, tx, ids[from:to], s.Now(), s.cfg.AccessTokenTTL); err != nil {
				return err
			}
			ended += int64(to - from)
			return nil
		})
		if err != nil {
			return ended, fmt.Errorf("end expired sessions: %w", err) // the batch's rows stay: the next sweep tries again
		}
		if len(ids) < sweepBatch {
			return ended, nil
		}
	}
}
