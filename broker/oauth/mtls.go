package oauth

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/broker/mtls"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

func isTLSClientAuth(method string) bool {
	return method == registry.AuthTLSClient || method == registry.AuthSelfSignedTLSClient
}

// verifyClientCertificate authenticates c by the certificate of the request (RFC
// 8705 §2). tls_client_auth (§2.1): the certificate chains to a CA of
// GATEHOUSE_MTLS_CLIENT_CA_FILE, for client authentication, valid now, and carries
// the one subject value c registered. self_signed_tls_client_auth (§2.2): its
// public key is one of c's registered keys (JWKS or JWKS URI), as private_key_jwt
// uses; no chain is built (§2.2: the certificate is only a key holder).
func (s *Server) verifyClientCertificate(r *http.Request, c *store.Client, cert *x509.Certificate) error {
	if cert == nil {
		return errors.New("no client certificate")
	}
	switch c.TokenEndpointAuthMethod {
	case registry.AuthTLSClient:
		if s.cfg.MTLSClientCAs == nil {
			return errors.New("no CA is configured for tls_client_auth")
		}
		opts := x509.VerifyOptions{Roots: s.cfg.MTLSClientCAs, CurrentTime: s.Now(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 1 {
			// Intermediates the client sent in its handshake (RFC 8446 §4.4.2).
			opts.Intermediates = x509.NewCertPool()
			for _, ic := range r.TLS.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
		}
		if _, err := cert.Verify(opts); err != nil {
			return err
		}
		if !registry.TLSClientSubject(*c).Matches(cert) {
			return errors.New("the certificate does not carry the registered subject")
		}
		return nil
	case registry.AuthSelfSignedTLSClient:
		set, err := s.clientKeys(r, c)
		if err != nil {
			return err
		}
		pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok {
			return errors.New("unsupported certificate key")
		}
		for _, k := range set.Keys {
			if k.Use == "enc" {
				continue
			}
			if pub.Equal(k.Key) {
				return nil
			}
		}
		return errors.New("the certificate's key is not one of the client's keys")
	}
	return errors.New("not a certificate method")
}

// confirmation is the cnf claim for a token issued in reply to a request with the
// client certificate cert: bound to it (RFC 8705 §3.1), whatever authenticated the
// client; nil (a bearer token) without one.
func confirmation(cert *x509.Certificate) *token.Confirmation {
	if cert == nil {
		return nil
	}
	return &token.Confirmation{X5TS256: mtls.Thumbprint(cert)}
}

// certRefreshBinding is the certificate thumbprint a refresh token issued to c
// is bound to: a public client's, over mTLS (RFC 8705 §4), as HandleToken put
// it in the request's confirmation. A confidential client's refresh token is
// bound to its client authentication already.
func certRefreshBinding(r *http.Request, c *store.Client) string {
	if cf := token.ConfirmationFrom(r.Context()); cf != nil && c.Public {
		return cf.X5TS256
	}
	return ""
}

// checkCertificateBinding refuses a certificate-bound token (cnf x5t#S256) presented
// without the certificate it is bound to (RFC 8705 §3: the protected resource
// compares the thumbprint of the client certificate of the request), as RFC 6750
// invalid_token.
func (s *Server) checkCertificateBinding(r *http.Request, cl *token.AccessClaims) error {
	if cl.Confirmation == nil || cl.Confirmation.X5TS256 == "" {
		return nil
	}
	cert, err := s.certs.Certificate(r)
	if err != nil || cert == nil || mtls.Thumbprint(cert) != cl.Confirmation.X5TS256 {
		return errBoundToken
	}
	return nil
}

var errBoundToken = &bearerError{Status: http.StatusUnauthorized, Code: "invalid_token",
	Description: "the access token is bound to a client certificate this request did not present"}

type mtlsAliasKey struct{}

// OnMTLSAlias marks a request that reached the mTLS listener, whose endpoints
// are the mtls_endpoint_aliases of discovery (RFC 8705 §5).
func OnMTLSAlias(ctx context.Context) context.Context {
	return context.WithValue(ctx, mtlsAliasKey{}, true)
}

// endpointURL is the URL of path as the request reached it: its alias on the
// mTLS listener, else under the issuer. A DPoP proof's htu (RFC 9449 §4.3 step
// 9) and a client assertion's aud name the endpoint the client sent them to.
func (s *Server) endpointURL(r *http.Request, path string) string {
	if on, _ := r.Context().Value(mtlsAliasKey{}).(bool); on {
		if base := s.cfg.MTLSBaseURL(); base != nil {
			return base.String() + path
		}
	}
	return s.url(path)
}
