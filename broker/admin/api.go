package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/dpop"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
)

// BodyLimit bounds an admin API request body.
const BodyLimit = 64 << 10

// Problem is an RFC 9457 problem details object; Errors lists every problem of
// a refused input (operations.Invalid).
type Problem struct {
	Type   string   `json:"type"`
	Title  string   `json:"title"`
	Status int      `json:"status"`
	Detail string   `json:"detail,omitempty"`
	Errors []string `json:"errors,omitempty"`
}

// apiHandler is an admin API handler: it runs for a caller holding the admin
// scope only, and returns a *Problem (or any error: 500) instead of writing one.
type apiHandler func(w http.ResponseWriter, r *http.Request, p person) error

func problem(status int, detail string) *Problem {
	return &Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s", p.Status, p.Detail) }

// api lets h run for a bearer token (RFC 6750 §2.1) that Gatehouse issued for
// the Admin API with the gatehouse:admin scope. No token or a bad one: 401 with
// WWW-Authenticate (RFC 6750 §3); a good token without that audience or scope:
// 403 insufficient_scope (RFC 6750 §3.1).
func (a *Server) api(w http.ResponseWriter, r *http.Request, h apiHandler) {
	w.Header().Set("Cache-Control", "no-store")
	err := a.apiAuth(w, r, h)
	if err == nil || a.web.ClientGone(w, r, err) {
		return
	}
	var p *Problem
	switch {
	case errors.As(err, &p):
		if p.Status >= 400 {
			a.web.Log.WarnContext(r.Context(), "admin API call refused", "request_id", web.RequestID(r.Context()),
				"path", r.URL.Path, "status", p.Status, "detail", p.Detail)
		}
	case a.web.Unavailable(r.Context(), err):
		// As the pages and OAuth endpoints answer (web.Core.Unavailable):
		// come back later, rather than "Gatehouse is broken".
		a.web.Log.WarnContext(r.Context(), "admin API call failed: database unavailable", "request_id", web.RequestID(r.Context()),
			"path", r.URL.Path, "error", err.Error())
		w.Header().Set("Retry-After", strconv.Itoa(web.ErrUnavailable.RetryAfter))
		p = problem(http.StatusServiceUnavailable, web.ErrUnavailable.Message+" Try again shortly; the request ID is "+web.RequestID(r.Context()))
	default:
		a.web.Log.ErrorContext(r.Context(), "admin API call failed", "request_id", web.RequestID(r.Context()),
			"path", r.URL.Path, "error", err.Error())
		p = problem(http.StatusInternalServerError, "Gatehouse could not complete this request; the request ID is "+web.RequestID(r.Context()))
	}
	writeProblem(w, p)
}

func (a *Server) apiAuth(w http.ResponseWriter, r *http.Request, h apiHandler) error {
	scheme, tok, ok := dpop.Authorization(r.Header)
	const realm = `Bearer realm="gatehouse-admin"`
	if !ok {
		// RFC 6750 §3.1: no error code when the request had no credentials;
		// RFC 9449 §7.2: either scheme.
		w.Header().Set("WWW-Authenticate", realm+", "+dpop.Challenge("", ""))
		return problem(http.StatusUnauthorized, "An access token for the Gatehouse Admin API is required.")
	}
	cl, err := a.verifier.Verify(r.Context(), strings.TrimSpace(tok))
	if errors.Is(err, token.ErrInvalidAccess) {
		w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token"`)
		return problem(http.StatusUnauthorized, "The access token is invalid, expired or revoked.")
	}
	if err != nil {
		return err
	}
	if err := a.checkDPoP(w, r, scheme, strings.TrimSpace(tok), &cl); err != nil {
		return err
	}
	if !cl.Audience.Contains(a.audience) || !slices.Contains(token.ParseScope(cl.Scope), Scope) {
		w.Header().Set("WWW-Authenticate", realm+`, error="insufficient_scope", scope="`+Scope+`"`)
		return problem(http.StatusForbidden, "The access token is not for the Gatehouse Admin API with the scope "+Scope+".")
	}
	p := person{Actor: operations.Actor{Via: "api"}}
	if cl.Subject == "" || cl.Subject == cl.ClientID {
		// client_credentials: the client acts for itself (automation).
		p.Actor.Name, p.Name = "client:"+cl.ClientID, cl.ClientID
	} else {
		// A person's token: their sign-in must be as fresh as the console asks
		// (ADM-05), or a refresh token would mint admin tokens for as long as it
		// lives. RFC 9470 §3: 401 insufficient_user_authentication with max_age.
		maxAge := a.web.Config.AdminMaxAge
		if cl.AuthTime == 0 || a.Now().Sub(time.Unix(cl.AuthTime, 0)) > maxAge {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`%s, error="insufficient_user_authentication", max_age="%d"`,
				realm, int64(maxAge/time.Second)))
			return problem(http.StatusUnauthorized, "The sign-in behind this token is too old for the Admin API: sign in again.")
		}
		p.User.ID = cl.Subject
		p.Actor.Name, p.Name = cl.Subject, cl.Subject
	}
	return h(w, r, p)
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	b, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	w.Write(b)
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

// decode reads one JSON object into dst, refusing unknown fields (SECURITY.md
// ADM-03: no mass assignment of a field the API does not document), trailing
// data and an oversized body.
func decode(r *http.Request, dst any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, BodyLimit+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return problem(http.StatusBadRequest, "The body is not a JSON object of this resource: "+jsonProblem(err))
	}
	if dec.More() {
		return problem(http.StatusBadRequest, "The body holds more than one JSON value.")
	}
	return nil
}

// jsonProblem says what was wrong with a body without echoing it.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return "the field " + te.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	case errors.Is(err, io.EOF):
		return "the body is empty"
	}
	return "malformed JSON"
}

// opProblem maps an operation's typed error to a problem; anything else stays
// an error (500).
func opProblem(err error) error {
	var inv *operations.Invalid
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv):
		return invalidProblem(inv.Problems)
	case errors.Is(err, operations.ErrNotFound):
		return problem(http.StatusNotFound, err.Error())
	case errors.Is(err, operations.ErrConflict):
		return problem(http.StatusConflict, err.Error())
	}
	return err
}

// checkDPoP enforces a token's DPoP binding (RFC 9449 §7.1): a DPoP-bound token
// needs the DPoP scheme and a proof by its key for this request (with ath); a
// bound token presented as Bearer is refused, and a bearer one as DPoP.
func (a *Server) checkDPoP(w http.ResponseWriter, r *http.Request, scheme dpop.Scheme, tok string, cl *token.AccessClaims) error {
	bound := cl.Confirmation != nil && cl.Confirmation.JKT != ""
	refuse := func(code, detail string) error {
		if code == "use_dpop_nonce" && a.dpopGuard.Nonces != nil {
			w.Header().Set(dpop.NonceHeader, a.dpopGuard.Nonces.Issue(a.Now()))
		}
		w.Header().Set("WWW-Authenticate", dpop.Challenge(code, ""))
		return problem(http.StatusUnauthorized, detail)
	}
	switch {
	case bound && scheme != dpop.SchemeDPoP:
		return refuse("invalid_token", "The access token is DPoP-bound: present it with the DPoP scheme and a proof.")
	case !bound && scheme == dpop.SchemeDPoP:
		return refuse("invalid_token", "The access token is not DPoP-bound.")
	case !bound:
		return nil
	}
	header, present, err := dpop.FromHeader(r.Header)
	if err == nil && !present {
		return refuse("invalid_dpop_proof", "A DPoP proof is required with this access token.")
	}
	var p *dpop.Proof
	if err == nil {
		url := a.web.Config.Issuer.String() + r.URL.EscapedPath()
		p, err = a.dpopGuard.Check(r.Context(), header, dpop.Check{Method: r.Method, URL: url, AccessToken: tok, Now: a.Now()})
	}
	switch {
	case errors.Is(err, dpop.ErrUseNonce):
		return refuse("use_dpop_nonce", "The DPoP proof must carry the nonce in the DPoP-Nonce header.")
	case errors.Is(err, dpop.ErrInvalidProof):
		return refuse("invalid_dpop_proof", "The DPoP proof is invalid.")
	case err != nil:
		return err
	case p.JKT != cl.Confirmation.JKT:
		return refuse("invalid_dpop_proof", "The DPoP proof is not by the key the access token is bound to.")
	}
	return nil
}
