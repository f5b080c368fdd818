package broker

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
)

// assertionType is the client_assertion_type of private_key_jwt (RFC 7523 §2.2).
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

var errNoCredentials = errors.New("no client credentials")

// clientRequest is how every client-authenticated endpoint (token, introspection,
// revocation) starts: the caller's IP limit, the form (RFC 6749 §3.2 rules), then
// client authentication.
func (s *Server) clientRequest(r *http.Request) (form, *store.Client, error) {
	if err := s.limitIP(r); err != nil {
		return form{}, nil, err
	}
	f, err := readForm(r)
	if err != nil {
		return form{}, nil, err
	}
	c, err := s.authenticateClient(r, f)
	return f, c, err
}

// limitIP applies the per-address bucket; every OAuth endpoint calls it first.
func (s *Server) limitIP(r *http.Request) error {
	if ok, after := s.ipLimit.take(infoFrom(r.Context()).IP, 1); !ok {
		return tooManyRequests(after)
	}
	return nil
}

// authenticateClient identifies and authenticates the client of a token,
// introspection or revocation request by the one method it used (RFC 6749 §2.3:
// exactly one per request) and the method the client registered: client_secret_basic,
// client_secret_post, private_key_jwt, or none for public clients, which then only
// identify themselves. Every failure is the same invalid_client.
func (s *Server) authenticateClient(r *http.Request, f form) (*store.Client, error) {
	basicID, basicSecret, hasBasic, err := basicCredentials(r)
	if err != nil {
		return nil, s.clientAuthFailed(r, "", "", "malformed_basic", err)
	}
	hasPost := f.get("client_secret") != ""
	hasJWT := f.get("client_assertion") != "" || f.get("client_assertion_type") != ""
	if btoi(hasBasic)+btoi(hasPost)+btoi(hasJWT) > 1 {
		return nil, invalidRequest("use exactly one client authentication method")
	}
	id, method := f.get("client_id"), registry.AuthNone
	var assertion *clientAssertion
	switch {
	case hasBasic:
		if id != "" && id != basicID {
			return nil, invalidRequest("client_id does not match the authenticated client")
		}
		id, method = basicID, registry.AuthSecretBasic
	case hasPost:
		method = registry.AuthSecretPost
	case hasJWT:
		method = registry.AuthPrivateKeyJWT
		if f.get("client_assertion_type") != assertionType {
			return nil, s.clientAuthFailed(r, id, method, "bad_assertion", errors.New("unsupported client_assertion_type"))
		}
		if assertion, err = parseClientAssertion(f.get("client_assertion")); err != nil {
			return nil, s.clientAuthFailed(r, id, method, "bad_assertion", err)
		}
		if id == "" {
			id = assertion.subject // RFC 7523 §3: client_id is optional with an assertion
		}
	}
	if id == "" {
		return nil, s.clientAuthFailed(r, "", method, "no_credentials", errNoCredentials)
	}
	if ok, after := s.clientLimit.take(id, 1); !ok {
		return nil, tooManyRequests(after)
	}
	c, err := s.registry.Client(r.Context(), id)
	if err != nil {
		return nil, err
	}
	switch method {
	case registry.AuthSecretBasic, registry.AuthSecretPost:
		secret := basicSecret
		if method == registry.AuthSecretPost {
			secret = f.get("client_secret")
		}
		var stored []byte
		if c != nil && c.TokenEndpointAuthMethod == method {
			stored = c.SecretHash
		}
		// Always hash and compare, so an unknown client costs what a wrong secret does.
		if !registry.SecretMatches(stored, secret) {
			return nil, s.clientAuthFailed(r, id, method, "bad_secret", errors.New("unknown client, other method or wrong secret"))
		}
	case registry.AuthPrivateKeyJWT:
		if c == nil || c.TokenEndpointAuthMethod != method {
			return nil, s.clientAuthFailed(r, id, method, "bad_assertion", errors.New("unknown client or other method"))
		}
		if err := s.verifyClientAssertion(r, c, assertion); err != nil {
			return nil, s.clientAuthFailed(r, id, method, "bad_assertion", err)
		}
	default: // none: a public client identifies itself and proves nothing (PKCE does).
		if c == nil || c.TokenEndpointAuthMethod != registry.AuthNone || !c.Public {
			return nil, s.clientAuthFailed(r, id, method, "no_credentials", errors.New("unknown client, or a confidential client without credentials"))
		}
	}
	return c, nil
}

// clientAuthFailed counts the failure against the caller's address and the claimed
// client (so guessing runs into 429) and returns invalid_client, which the error
// writer records in the audit log (auditRejection) with reason and method.
func (s *Server) clientAuthFailed(r *http.Request, clientID, method, reason string, cause error) error {
	s.ipLimit.charge(infoFrom(r.Context()).IP, failureCost)
	if clientID == "" {
		clientID = "unknown"
	} else {
		s.clientLimit.charge(clientID, failureCost)
	}
	return rejected(invalidClient(cause), reason, clientID, "", map[string]any{"method": method})
}

// basicCredentials reads client_secret_basic credentials: RFC 6749 §2.3.1 encodes
// client ID and secret with application/x-www-form-urlencoded before Basic
// encoding them, so they are unescaped here.
func basicCredentials(r *http.Request) (id, secret string, ok bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false, nil
	}
	scheme, value, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", false, errors.New("authorization header is not Basic")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
	if err != nil {
		return "", "", false, errors.New("basic credentials are not base64")
	}
	rawID, rawSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false, errors.New("basic credentials have no colon")
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", false, fmt.Errorf("basic client ID: %w", err)
	}
	if secret, err = url.QueryUnescape(rawSecret); err != nil {
		return "", "", false, errors.New("basic secret is not form-encoded")
	}
	if id == "" {
		return "", "", false, errors.New("basic credentials have no client ID")
	}
	return id, secret, true, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
