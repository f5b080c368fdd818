package dpop

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// ErrUseNonce is a proof without the server nonce it needs (or with a stale
// one): the answer is use_dpop_nonce with a fresh DPoP-Nonce (RFC 9449 §8, §9).
var ErrUseNonce = errors.New("DPoP proof needs a server nonce")

// Guard is Parse plus what needs state: the server nonce when one is
// required, and the jti recorded once (RFC 9449 §11.1), across replicas when
// Seen is backed by a shared store.
type Guard struct {
	// Seen records key until expiresAt and reports whether it was already
	// recorded and unexpired; a caller backs it with its replay cache.
	Seen func(ctx context.Context, key string, expiresAt time.Time) (replayed bool, err error)
	// Nonces, when set, makes a valid nonce required.
	Nonces *Nonces
	// Window is Check.Window; zero means DefaultWindow.
	Window time.Duration
}

// Check parses header against c (Window taken from g) and then checks the
// nonce and the jti. A refusal matches ErrInvalidProof or ErrUseNonce; any
// other error is Seen's.
func (g *Guard) Check(ctx context.Context, header string, c Check) (*Proof, error) {
	c.Window = g.window()
	p, err := Parse(header, c)
	if err != nil {
		return nil, err
	}
	if g.Nonces != nil && (p.Nonce == "" || !g.Nonces.Valid(p.Nonce, c.Now)) {
		return nil, ErrUseNonce
	}
	// RFC 9449 §11.1: a jti is accepted once while its iat is in the window.
	// Keyed by the key's thumbprint too, so one client cannot spend another's.
	jti := p.ID
	if len(jti) > 256 {
		jti = jti[:256]
	}
	replayed, err := g.Seen(ctx, "dpop:"+p.JKT+":"+jti, p.IssuedAt.Add(c.Window))
	if err != nil {
		return nil, err
	}
	if replayed {
		return nil, refuse("jti was already used")
	}
	return p, nil
}

func (g *Guard) window() time.Duration {
	if g.Window > 0 {
		return g.Window
	}
	return DefaultWindow
}

// Scheme is how an access token was presented (RFC 6750 §2.1, RFC 9449 §7.1).
type Scheme string

const (
	SchemeBearer Scheme = "Bearer"
	SchemeDPoP   Scheme = "DPoP"
)

// Authorization splits the single Authorization header of h into scheme and
// token. ok is false when there is none, when it repeats, or when it is
// neither Bearer nor DPoP with a token.
func Authorization(h http.Header) (scheme Scheme, tok string, ok bool) {
	vs := h.Values("Authorization")
	if len(vs) != 1 {
		return "", "", false
	}
	s, t, _ := strings.Cut(vs[0], " ")
	t = strings.TrimLeft(t, " ") // "Bearer" 1*SP b64token (RFC 6750 §2.1; RFC 9449 §7.1)
	switch {
	case t == "":
		return "", "", false
	case strings.EqualFold(s, string(SchemeBearer)):
		return SchemeBearer, t, true
	case strings.EqualFold(s, string(SchemeDPoP)):
		return SchemeDPoP, t, true
	}
	return "", "", false
}

// Challenge is the WWW-Authenticate value of a DPoP refusal at a protected
// resource (RFC 9449 §7.1): the error and the algorithms accepted.
func Challenge(errCode, description string) string {
	v := `DPoP algs="` + strings.Join(SupportedAlgs, " ") + `"`
	if errCode != "" {
		v += `, error="` + errCode + `"`
		if description != "" {
			v += `, error_description="` + description + `"`
		}
	}
	return v
}
