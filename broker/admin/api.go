package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

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
	if !errors.As(err, &p) {
		a.web.Log.ErrorContext(r.Context(), "admin API call failed", "request_id", web.RequestID(r.Context()),
			"path", r.URL.Path, "error", err.Error())
		p = problem(http.StatusInternalServerError, "Gatehouse could not complete this request; the request ID is "+web.RequestID(r.Context()))
	} else if p.Status >= 400 {
		a.web.Log.WarnContext(r.Context(), "admin API call refused", "request_id", web.RequestID(r.Context()),
			"path", r.URL.Path, "status", p.Status, "detail", p.Detail)
	}
	writeProblem(w, p)
}

func (a *Server) apiAuth(w http.ResponseWriter, r *http.Request, h apiHandler) error {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	const realm = `Bearer realm="gatehouse-admin"`
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		// RFC 6750 §3.1: no error code when the request had no credentials.
		w.Header().Set("WWW-Authenticate", realm)
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
