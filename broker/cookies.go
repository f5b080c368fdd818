package broker

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/gorilla/sessions"

	"github.com/gatehouse/gatehouse/broker/config"
)

// browserCookie is the gorilla/sessions cookie that carries a browser's pre-login
// state and its CSRF secret; the signed-in session itself is a database row whose
// token this cookie holds.
const (
	browserCookieSecure   = "__Host-gatehouse" // __Host-: Secure, Path=/, no Domain (WEB-08)
	browserCookieInsecure = "gatehouse"        // plain-http loopback issuers (the demo) cannot use __Host-
	csrfSecretKey         = "csrf"
	csrfField             = "csrf_token"
)

// newCookieStore derives an authentication and an encryption key for every configured
// session key, newest first, so a rotated-out key still opens existing cookies. With
// no session keys configured they are derived from the master key.
func newCookieStore(c *config.Config) (*sessions.CookieStore, error) {
	pairs, err := cookieKeyPairs(c, "gatehouse cookie")
	if err != nil {
		return nil, err
	}
	st := sessions.NewCookieStore(pairs...)
	st.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(c.SessionMaxAge.Seconds()),
		Secure:   c.Issuer.Scheme == "https",
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	st.MaxAge(st.Options.MaxAge)
	return st, nil
}

// cookieKeyPairs derives an (authentication, encryption) key pair per configured
// session key, newest first, labelled so that different cookies never share keys.
func cookieKeyPairs(c *config.Config, label string) ([][]byte, error) {
	secrets := c.SessionKeys
	if len(secrets) == 0 {
		if len(c.MasterKeys) == 0 {
			return nil, errors.New("broker: a master key or session keys are required for cookies")
		}
		secrets = [][]byte{derive(c.MasterKeys[0], "gatehouse session key")}
	}
	var pairs [][]byte
	for _, k := range secrets {
		pairs = append(pairs, derive(k, label+" authentication"), derive(k, label+" encryption"))
	}
	return pairs, nil
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

func (s *Server) browserCookieName() string {
	if s.cfg.Issuer.Scheme == "https" {
		return browserCookieSecure
	}
	return browserCookieInsecure
}

// browserState returns the browser's cookie session; a missing, expired or forged
// cookie yields a fresh, empty one.
func (s *Server) browserState(r *http.Request) *sessions.Session {
	sess, err := s.cookies.Get(r, s.browserCookieName())
	if err != nil {
		sess, _ = s.cookies.New(r, s.browserCookieName())
	}
	return sess
}

// csrfToken returns the token a form posting to action must carry, creating the
// browser's CSRF secret (and its cookie) on first use. Tokens are per browser and per
// form action (WEB-01), so a token leaked from one form does not authorise another.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request, action string) (string, error) {
	sess := s.browserState(r)
	secret, _ := sess.Values[csrfSecretKey].([]byte)
	if len(secret) != 32 {
		secret = make([]byte, 32)
		rand.Read(secret)
		sess.Values[csrfSecretKey] = secret
		if err := sess.Save(r, w); err != nil {
			return "", err
		}
	}
	return formToken(secret, action), nil
}

func formToken(secret []byte, action string) string {
	return base64.RawURLEncoding.EncodeToString(derive(secret, "csrf "+action))
}

// checkCSRF refuses a state-changing browser request that another site sent: by the
// browser's Sec-Fetch-Site/Origin headers (net/http CrossOriginProtection), and by the
// form token, which an attacker's page cannot read.
func (s *Server) checkCSRF(r *http.Request) error {
	if err := s.csrf.Check(r); err != nil {
		return &userError{Status: http.StatusForbidden, Title: errForbiddenCrossSite.Title,
			Message: errForbiddenCrossSite.Message, Next: errForbiddenCrossSite.Next, Err: err}
	}
	if err := r.ParseForm(); err != nil {
		if isBodyTooLarge(err) {
			return err
		}
		return &userError{Status: http.StatusBadRequest, Title: "Request not understood",
			Message: "The form could not be read.", Next: "Go back, reload the page and try again.", Err: err}
	}
	sess := s.browserState(r)
	secret, _ := sess.Values[csrfSecretKey].([]byte)
	got := r.PostFormValue(csrfField)
	if len(secret) != 32 || got == "" ||
		subtle.ConstantTimeCompare([]byte(got), []byte(formToken(secret, r.URL.Path))) != 1 {
		return &userError{Status: http.StatusForbidden, Title: errForbiddenCrossSite.Title,
			Message: errForbiddenCrossSite.Message, Next: errForbiddenCrossSite.Next, Err: errors.New("csrf token missing or wrong")}
	}
	return nil
}
