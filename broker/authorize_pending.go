package broker

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"
)

// pendingAuthz is an authorization request waiting for a sign-in or a consent
// decision. It is sealed with the master key (AES-256-GCM), so the browser that
// carries it can neither read nor change it, and it expires with flowTTL. The
// sealing purpose is its associated data: a request sealed for the consent form is
// bound to the session it was shown to, and opens for no other.
type pendingAuthz struct {
	Req     authzRequest `json:"q"`
	ID      string       `json:"i"` // makes a consent decision single-use
	Created int64        `json:"t"`
	// ForceLogin (prompt=login or select_account, max_age exceeded, "not you?")
	// is satisfied only by a session other than PriorSession: a fresh sign-in.
	ForceLogin   bool   `json:"f,omitempty"`
	PriorSession string `json:"p,omitempty"`
	// Fresh (prompt=login, max_age exceeded) also needs the upstream IdP to
	// authenticate the person again, after Created (authorize_authn.go).
	Fresh bool `json:"fr,omitempty"`
	// SelectAccount (prompt=select_account, "not you?") lets the person choose
	// the account on the sign-in page, and asks the IdP to let them choose
	// too; Chosen says the page was shown.
	SelectAccount bool `json:"sa,omitempty"`
	Chosen        bool `json:"ch,omitempty"`
	// LoginOffered says this request already sent the person to sign in.
	LoginOffered bool `json:"lo,omitempty"`
}

const (
	purposeResume = "gatehouse authorize resume"
	resumePath    = "/oauth2/authorize/resume"
	// maxResumeURL is what /login keeps of return_to (localReturnTo).
	maxResumeURL = 1024
)

func purposeConsent(sessionID string) string { return "gatehouse authorize consent " + sessionID }

var errPendingInvalid = errors.New("pending authorization request unreadable or expired")

// sealPending encodes p for the browser: JSON, deflated (the resume link must fit
// in /login's return_to), sealed, base64url.
func (s *Server) sealPending(p pendingAuthz, purpose string) (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestCompression)
	zw.Write(b)
	zw.Close()
	sealed, err := s.ring.Seal(buf.Bytes(), []byte(purpose))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openPending reverses sealPending and refuses an expired request.
func (s *Server) openPending(raw, purpose string) (pendingAuthz, error) {
	var p pendingAuthz
	if raw == "" || len(raw) > 8<<10 {
		return p, errPendingInvalid
	}
	sealed, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return p, errPendingInvalid
	}
	z, err := s.ring.Open(sealed, []byte(purpose))
	if err != nil {
		return p, errPendingInvalid
	}
	b, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), 64<<10))
	if err != nil || json.Unmarshal(b, &p) != nil {
		return p, errPendingInvalid
	}
	if age := s.Now().Sub(time.Unix(p.Created, 0)); age > flowTTL || age < -time.Minute {
		return p, errPendingInvalid
	}
	return p, nil
}

var errAuthzExpired = &userError{Status: http.StatusBadRequest, Title: "Request expired",
	Message: "This sign-in request has expired or was already answered.",
	Next:    "Go back to the application and start again."}

// resumeURL is where sign-in returns to continue the authorization request.
func (s *Server) resumeURL(p pendingAuthz) (string, error) {
	sealed, err := s.sealPending(p, purposeResume)
	if err != nil {
		return "", err
	}
	return resumePath + "?" + url.Values{"r": {sealed}}.Encode(), nil
}
