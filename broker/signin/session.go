package signin

import (
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
)

// startSession creates a new session for user after a verified sign-in and puts
// its token in a fresh browser cookie. Whatever the browser held before
// (pre-login values, CSRF secret, an older session's token) is discarded, so a
// planted cookie is worth nothing afterwards (WEB-06).
// login, if set, is the identity's login record, and used the replay keys the
// sign-in consumes, written with the session in one transaction (a used key is
// store.ErrAlreadyUsed). A user's sessions beyond MaxSessionsPerUser end,
// oldest first (DOS-12).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u store.User, id providers.Identity, roles []string, login store.Identity, used []store.ReplayKey) (store.Session, error) {
	now := s.Now()
	secret := token.Random(32) // 256 bits
	sess := store.Session{
		ID: token.Random(16), TokenHash: token.Hash(secret), UserID: u.ID, ProviderID: id.ProviderID, Subject: id.Subject,
		AuthTime: id.AuthTime, AMR: id.AMR, ACR: web.UpstreamACR(id.ACR), IP: web.InfoFrom(r.Context()).IP, UserAgent: web.Truncate(r.UserAgent(), 256),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.SessionMaxAge), Roles: roles, LogoutKey: id.LogoutKey,
	}
	if sess.AuthTime.IsZero() {
		sess.AuthTime = now
	}
	if len(id.LogoutState) > 0 {
		enc, err := s.ring.Seal(id.LogoutState, []byte("session "+sess.ID))
		if err != nil {
			return store.Session{}, err
		}
		sess.LogoutStateEnc = enc
	}
	evicted, err := s.store.SignIns().Record(r.Context(), store.SignIn{Used: used, Session: sess, Login: login,
		MaxPerUser: s.MaxSessionsPerUser, Profile: profileUpdate(u, id, now),
		RequireEnabledProvider: true})
	if errors.Is(err, store.ErrDisabled) {
		// The provider was disabled or removed while the person was at it: the
		// cached build that verified the response may be seconds old, the
		// database is not (the cut-off that follows a disable must find every
		// session). The response is used up all the same.
		if err := s.spend(r, id.ProviderID, "signin.refused", used); err != nil {
			return store.Session{}, err
		}
		s.web.Record(r, "", "signin.refused", id.ProviderID, map[string]any{"reason": "provider_disabled"})
		return store.Session{}, errUnknownProvider
	}
	if err != nil {
		return store.Session{}, err
	}
	for _, old := range evicted {
		s.audit.Enqueue(s.web.AuditEvent(r, u.ID, "session.evicted", old, map[string]any{"max_per_user": s.MaxSessionsPerUser}))
	}
	if err := s.web.SetSessionToken(w, r, secret); err != nil {
		return store.Session{}, err
	}
	return sess, nil
}

// profileUpdate is the user's profile as the identity signing in says it, or a
// zero User when nothing changed: the identity signed in with last wins, and one
// that sends no email or no name leaves that field as it was. Apps see the email
// and verified flag of the person's latest sign-in (OIDC Core §5.1).
func profileUpdate(u store.User, id providers.Identity, now time.Time) store.User {
	p := u
	if id.Email != "" {
		p.Email, p.EmailVerified = id.Email, id.EmailVerified
	}
	if name := web.Truncate(id.Name, 256); name != "" {
		p.Name = name
	}
	if p.Email == u.Email && p.EmailVerified == u.EmailVerified && p.Name == u.Name {
		return store.User{}
	}
	p.UpdatedAt = now
	return p
}

// refuseDisabledProvider refuses a sign-in or link completing at a provider the
// database says is disabled or removed, before the response is verified or
// anything but its flow's key is stored: the registry's cached list (s.provider)
// may be seconds old on this replica. startSession checks again in the
// transaction that records the session, for a disable that lands in between.
func (s *Server) refuseDisabledProvider(r *http.Request, id string, f flow) error {
	p, err := s.store.Providers().Get(r.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err == nil && p.Enabled {
		return nil
	}
	if err := s.spend(r, id, "signin.refused", []store.ReplayKey{flowKey(f)}); err != nil {
		return err
	}
	s.web.Record(r, "", "signin.refused", id, map[string]any{"reason": "provider_disabled"})
	return errUnknownProvider
}
