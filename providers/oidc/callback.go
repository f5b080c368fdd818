package oidc

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/providers"
)

// Limits on authorization response parameters (SECURITY.md DOS-11). They
// are generous for real OPs and bound what a hostile one can make us hold.
const (
	maxStateLen     = 512
	maxCodeLen      = 4096
	maxIssLen       = 2048
	maxErrorLen     = 128
	maxErrorDescLen = 512
	maxQueryLen     = 16 << 10
)

// callback is a parsed authorization response (RFC 6749 §4.1.2, §4.1.2.1;
// RFC 9207 §2).
type callback struct {
	Code, State      string
	Iss              string
	HasIss           bool
	Error            string
	ErrorDescription string
}

// callbackValues reads the authorization response. Only the query of a GET
// is accepted: Begin never asks for response_mode=form_post.
func callbackValues(r *http.Request) (url.Values, error) {
	if r.Method != http.MethodGet {
		return nil, providers.Invalid("callback method %s", r.Method)
	}
	if len(r.URL.RawQuery) > maxQueryLen {
		return nil, providers.Invalid("callback query too long")
	}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, providers.Invalid("callback query: %v", err)
	}
	return v, nil
}

// parseCallback validates the shape of the response parameters.
func parseCallback(v url.Values) (callback, error) {
	var cb callback
	one := func(name string, max int) (string, bool, error) {
		vs, ok := v[name]
		switch {
		case !ok:
			return "", false, nil
		case len(vs) != 1:
			// RFC 6749 §3.1: parameters MUST NOT be included more than once.
			return "", true, providers.Invalid("parameter %s repeated", name)
		case len(vs[0]) > max:
			return "", true, providers.Invalid("parameter %s too long", name)
		}
		return vs[0], true, nil
	}
	var err error
	if cb.State, _, err = one("state", maxStateLen); err != nil {
		return callback{}, err
	}
	if cb.Iss, cb.HasIss, err = one("iss", maxIssLen); err != nil {
		return callback{}, err
	}
	if cb.Error, _, err = one("error", maxErrorLen); err != nil {
		return callback{}, err
	}
	// error_description is free text from the OP: truncated, never refused.
	if vs := v["error_description"]; len(vs) > 0 {
		cb.ErrorDescription = truncate(vs[0], maxErrorDescLen)
	}
	if cb.Error != "" {
		if !validErrorCode(cb.Error) {
			return callback{}, providers.Invalid("malformed error code")
		}
		return cb, nil
	}
	if cb.Code, _, err = one("code", maxCodeLen); err != nil {
		return callback{}, err
	}
	if cb.Code == "" {
		return callback{}, providers.Invalid("callback has neither code nor error")
	}
	if cb.State == "" {
		return callback{}, providers.Invalid("callback has no state")
	}
	return cb, nil
}

// validErrorCode checks RFC 6749 §4.1.2.1: %x20-21 / %x23-5B / %x5D-7E.
func validErrorCode(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// truncate cuts s to at most n bytes on a rune boundary and drops invalid
// UTF-8 and control characters, so the text is safe to log and escape.
func truncate(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
