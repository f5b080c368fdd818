package broker

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// Maintain runs housekeeping every interval until ctx ends: signing-key promotion
// and retirement, and sweeping expired sessions, codes, refresh tokens and replay
// entries so stored state stays bounded (DOS-12). Every replica may run it; each
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
		{"refresh tokens", func() (int64, error) { return s.store.RefreshTokens().DeleteExpired(ctx, now) }},
		{"replay cache", func() (int64, error) { return s.store.Replay().DeleteExpired(ctx, now) }},
		{"token revocations", func() (int64, error) { return s.store.Revocations().DeleteExpired(ctx, now) }},
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

// sweepSessions deletes the sessions past their idle or absolute limit and
// revokes what was issued under each, as a logout does (endSession): a session
// that ends by timeout must not leave its refresh tokens usable. The rows go
// first; a revocation that fails is logged, and those refresh tokens then live
// until their own expiry.
func (s *Server) sweepSessions(ctx context.Context, now time.Time) (int64, error) {
	ids, err := s.store.Sessions().DeleteExpired(ctx, now, now.Add(-s.cfg.SessionIdleTimeout))
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := s.RevokeTokens(ctx, store.RefreshFilter{SessionID: id}); err != nil {
			if ctx.Err() != nil {
				return int64(len(ids)), err
			}
			s.log.ErrorContext(ctx, "maintenance: expired session's tokens not revoked", "session", id, "error", err.Error())
		}
	}
	return int64(len(ids)), nil
}
