package rs

import (
	"errors"
	"net/http"
	"strings"
)

// Error is a refused request: its status and the error code of the
// WWW-Authenticate challenge (RFC 6750 §3.1, RFC 9449 §7.1). Description is a
// fixed sentence of this package, never a part of the request.
type Error struct {
	Status      int
	Code        string // "" when the request carried no credentials (RFC 6750 §3.1)
	Description string
	// Scheme is the one the request used ("Bearer" or "DPoP"): its challenge
	// carries the error. "" → Bearer.
	Scheme string
	Scope  string // for insufficient_scope: the scopes the resource requires
}

func (e *Error) Error() string {
	if e.Code == "" {
		return "rs: no access token"
	}
	return "rs: " + e.Code + ": " + e.Description
}

func asError(err error, e **Error) bool { return errors.As(err, e) }

// WriteError answers a request Authenticate refused. Both schemes are
// challenged (RFC 9449 §7.1: a resource accepting DPoP and Bearer tokens says
// so), the error on the one the request used; DPoP's names the proof
// algorithms accepted. An error that is no *Error (a shared replay cache that
// failed) is a 503 without a challenge: the client did nothing wrong.
func (v *Verifier) WriteError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	params := func(scheme string) []string {
		if e.Code == "" || (e.Scheme != scheme && !(e.Scheme == "" && scheme == "Bearer")) {
			return nil
		}
		p := []string{`error="` + e.Code + `"`}
		if e.Description != "" {
			p = append(p, `error_description="`+quoteSafe(e.Description)+`"`)
		}
		if e.Scope != "" {
			p = append(p, `scope="`+quoteSafe(e.Scope)+`"`)
		}
		return p
	}
	challenge := func(scheme string, p []string) string {
		if len(p) == 0 {
			return scheme
		}
		return scheme + " " + strings.Join(p, ", ")
	}
	h := w.Header()
	h.Add("WWW-Authenticate", challenge("Bearer", params("Bearer")))
	h.Add("WWW-Authenticate", challenge("DPoP", append(params("DPoP"), `algs="`+strings.Join(v.cfg.DPoPAlgorithms, " ")+`"`)))
	h.Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(e.Status), e.Status)
}

// quoteSafe keeps the RFC 6750 §3 characters of an error_description or scope
// (%x20-21 / %x23-5B / %x5D-7E): no quote, backslash or control character.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
