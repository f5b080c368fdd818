package web

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
)

// FlowTTL bounds a pending sign-in, link, upstream logout or authorization
// request (WEB-24: ≤ 10 min).
const FlowTTL = 10 * time.Minute

// AuthTimeSkew is how far an IdP's clock may be behind ours when its auth_time
// must be after the moment Gatehouse asked for a new sign-in.
const AuthTimeSkew = time.Minute

// DisplayName is how pages name a user: the name, else the email.
func DisplayName(u store.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

// StampTime formats a time for a page; the zero time is a dash.
func StampTime(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// HTTPSURL returns raw if it is an absolute https URL, else "" (WEB-17).
func HTTPSURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return ""
	}
	return u.String()
}

// JSONUnmarshal is json.Unmarshal that reads an empty input as nothing to read.
func JSONUnmarshal(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, v)
}

// FormTarget is the CSP form-action source that lets a page's form, or the
// redirect answering it, reach a client's redirect URI: its origin, or its scheme
// for a native app's private-use URI scheme (RFC 8252 §7.1).
func FormTarget(redirect string) string {
	if o := Origin(redirect); o != "" {
		return o
	}
	if u, err := url.Parse(redirect); err == nil && u.Scheme != "" && registry.ValidateRedirectURI(redirect, true) == nil {
		return u.Scheme + ":"
	}
	return ""
}
