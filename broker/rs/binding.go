package rs

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatehouse/gatehouse/broker/mtls"
)

// checkBinding enforces the token's cnf on this request: the client certificate
// of an RFC 8705 §3 token, the DPoP proof of an RFC 9449 §7 one. A stolen bound
// token is worthless without the key or certificate.
func (v *Verifier) checkBinding(r *http.Request, tok *Token) error {
	cnf := tok.Confirmation
	if cnf != nil && cnf.X5TS256 != "" {
		// RFC 8705 §3: the certificate of this request (its TLS connection, or
		// a trusted proxy's Client-Cert header) must be the one the token was
		// issued to.
		cert, err := mtls.Source{TrustedProxies: v.cfg.TrustedProxies}.Certificate(r)
		if err != nil || cert == nil || mtls.Thumbprint(cert) != cnf.X5TS256 {
			return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Scheme: tok.Scheme,
				Description: "the token is bound to a client certificate this request did not present"}
		}
	}
	bound := cnf != nil && cnf.JKT != ""
	switch {
	case tok.Scheme == "DPoP" && !bound:
		// RFC 9449 §7.1: the DPoP scheme presents a DPoP-bound token; a bearer
		// token with a proof of some key proves nothing about the token.
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Scheme: "DPoP",
			Description: "the token is not DPoP-bound: present it with the Bearer scheme"}
	case tok.Scheme == "Bearer" && bound:
		// RFC 9449 §7.2: a DPoP-bound token sent as a bearer token is refused,
		// or whoever copied it could use it without the key. The challenge that
		// carries the error is DPoP's: that is how this token must be sent.
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Scheme: "DPoP",
			Description: "the token is DPoP-bound: present it with the DPoP scheme and a proof"}
	case bound:
		return v.checkDPoP(r, tok)
	}
	return nil
}

// requestURL is the default Config.RequestURL: the URL the client addressed,
// without query or fragment (RFC 9449 §4.3 step 9). Behind a trusted proxy its
// X-Forwarded-Proto and X-Forwarded-Host say what the client saw.
func requestURL(trusted []netip.Prefix) func(*http.Request) string {
	return func(r *http.Request) string {
		scheme, host := "http", r.Host
		if r.TLS != nil {
			scheme = "https"
		}
		if fromTrusted(r.RemoteAddr, trusted) {
			if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
				scheme = p
			}
			if h := r.Header.Get("X-Forwarded-Host"); h != "" && !strings.ContainsAny(h, ",/ ") {
				host = h
			}
		}
		return scheme + "://" + host + r.URL.EscapedPath()
	}
}

func fromTrusted(remote string, trusted []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	for _, p := range trusted {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}
