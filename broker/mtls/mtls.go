// Package mtls finds and fingerprints the TLS client certificate of a request for OAuth
// mutual-TLS (RFC 8705): from the TLS connection Gatehouse terminated itself, or from the
// RFC 9440 Client-Cert header written by a trusted TLS-terminating proxy.
package mtls

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// HeaderName is the RFC 9440 §2.2 header a TLS-terminating proxy uses to pass on the
// certificate the client presented.
const HeaderName = "Client-Cert"

// Thumbprint is the x5t#S256 confirmation of a certificate (RFC 8705 §3.1): base64url SHA-256 of its DER.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Source finds the client certificate of a request: the TLS connection's verified-or-presented leaf, else the
// RFC 9440 Client-Cert header when the request's immediate peer (r.RemoteAddr) is in TrustedProxies. A
// Client-Cert header from anyone else is ignored (and is never trusted). nil, nil when there is none.
type Source struct{ TrustedProxies []netip.Prefix }

// ErrMalformed reports a Client-Cert header from a trusted proxy that is not one DER
// certificate encoded as an RFC 8941 byte sequence.
var ErrMalformed = errors.New("mtls: malformed Client-Cert header")

// Certificate returns the client certificate of r, or nil, nil when there is none. An
// error means a trusted proxy sent a Client-Cert header that cannot be parsed; callers
// treat it as a failed client authentication, never as "no certificate".
func (s Source) Certificate(r *http.Request) (*x509.Certificate, error) {
	if r.TLS != nil {
		// With tls.RequestClientCert the chain is not verified by crypto/tls (each
		// RFC 8705 method checks it its own way), so VerifiedChains is usually empty
		// and the leaf is the first presented certificate (RFC 8446 §4.4.2).
		if len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			return r.TLS.VerifiedChains[0][0], nil
		}
		if len(r.TLS.PeerCertificates) > 0 {
			return r.TLS.PeerCertificates[0], nil
		}
	}
	values := r.Header.Values(HeaderName)
	if len(values) == 0 || !s.trusted(r.RemoteAddr) {
		// RFC 9440 §4: the header is only meaningful from the proxy that terminated
		// TLS; from anyone else it is a forgery attempt and is ignored.
		return nil, nil
	}
	if len(values) > 1 {
		// An Item field (RFC 8941 §3.3) sent on several lines is invalid: one
		// connection has one client certificate.
		return nil, fmt.Errorf("%w: %d header lines", ErrMalformed, len(values))
	}
	der, err := parseClientCert(values[0])
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return cert, nil
}

func (s Source) trusted(remote string) bool {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(remote); err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseClientCert decodes the RFC 9440 §2.2 value `Client-Cert = sf-binary`: an RFC 8941
// §3.3.5 byte sequence, ":" base64 ":", with optional surrounding spaces (§4.2).
func parseClientCert(v string) ([]byte, error) {
	v = strings.Trim(v, " \t")
	if len(v) < 2 || v[0] != ':' || v[len(v)-1] != ':' {
		return nil, fmt.Errorf("%w: not a byte sequence", ErrMalformed)
	}
	b64 := v[1 : len(v)-1]
	for i := 0; i < len(b64); i++ {
		c := b64[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return nil, fmt.Errorf("%w: not base64", ErrMalformed)
		}
	}
	// RFC 8941 §4.2.7: parsers SHOULD NOT fail when "=" padding is missing.
	der, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "="))
	if err != nil || len(der) == 0 {
		return nil, fmt.Errorf("%w: not base64", ErrMalformed)
	}
	return der, nil
}
