package web

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

// The browser cookie is the gorilla/sessions cookie that carries a browser's pre-login
// state and its CSRF secret; the signed-in session itself is a database row whose
// token this cookie holds.
const (
	BrowserCookieSecure   = "__Host-gatehouse" // __Host-: Secure, Path=/, no Domain (WEB-08)
	BrowserCookieInsecure = "gatehouse"        // plain-http loopback issuers (the demo) cannot use __Host-
	csrfSecretKey         = "csrf"
	// CSRFField is the form field that carries the CSRF token.
	CSRFField = "csrf_token"
)

// NewCookieStore derives an authentication and an encryption key for every configured
// session key, newest first, so a rotated-out key still opens existing cookies. With
// no session keys configured they are derived from the master key.
func NewCookieStore(c *config.Config) (*sessions.CookieStore, error) {
	pairs, err := CookieKeyPairs(c, "gatehouse cookie")
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

// CookieKeyPairs derives an (authentication, encryption) key pair per configured
// session key, newest first, labelled so that different cookies never share keys.
func CookieKeyPairs(c *config.Config, label string) ([][]byte, error) {
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

// BrowserCookieName is the browser cookie's name for the issuer's scheme.
func (c *Core) BrowserCookieName() string {
	if c.Config.Issuer.Scheme == "https" {
		return BrowserCookieSecure
	}
	return BrowserCookieInsecure
}

// BrowserState returns the browser's cookie session; a missing, expired or forged
// cookie yields a fresh, empty one.
func (c *Core) BrowserState(r *http.Request) *sessions.Session {
	sess, err := c.Cookies.Get(r, c.BrowserCookieName())
	if err != nil {
		sess, _ = c.Cookies.New(r, c.BrowserCookieName())
	}
	return sess
}

// CSRFToken returns the token a form posting to action must carry, creating the
// browser's CSRF secret (and its cookie) on first use. Tokens are per browser and per
// form action (WEB-01), so a token leaked from one form does not authorise another.
func (c *Core) CSRFToken(w http.ResponseWriter, r *http.Request, action string) (string, error) {
	sess := c.BrowserState(r)
	secret, _ := sess.Values[csrfSecretKey].([]byte)
	if len(secret) != 32 {
		secret = make([]byte, 32)
		rand.Read(secret)
		sess.Values[csrfSecretKey] = secret
		if err := sess.Save(r, w); err != nil {
			return "", err
		}
	}
	return FormToken(secret, action), nil
}

// FormToken is the CSRF token of the browser with secret for the form posting to action.
func FormToken(secret []byte, action string) string {
	return base64.RawURLEncoding.EncodeToString(derive(secret, "csrf "+action))
}

// CheckCSRF refuses a state-changing browser request that another site sent: by the
// browser's Sec-Fetch-Site/Origin headers (net/http CrossOriginProtection), and by the
// form token, which an attacker's page cannot read.
func (c *Core) CheckCSRF(r *http.Request) error {
	if err := c.CSRF.Check(r); err != nil {
		return &UserError{Status: http.StatusForbidden, Title: ErrForbiddenCrossSite.Title,
			Message: ErrForbiddenCrossSite.Message, Next: ErrForbiddenCrossSite.Next, Err: err}
	}
	if err := r.ParseForm(); err != nil {
		if IsBodyTooLarge(err) {
			return err
		}
		return &UserError{Status: http.StatusBadRequest, Title: "Request not understood",
			Message: "The form could not be read.", Next: "Go back, reload the page and try again.", Err: err}
	}
	sess := c.BrowserState(r)
	secret, _ := sess.Values[csrfSecretKey].([]byte)
	got := r.PostFormValue(CSRFField)
	if len(secret) != 32 || got == "" ||
		subtle.ConstantTimeCompare([]byte(got), []byte(FormToken(secret, r.URL.Path))) != 1 {
		return &UserError{Status: http.StatusForbidden, Title: ErrForbiddenCrossSite.Title,
			Message: ErrForbiddenCrossSite.Message, Next: ErrForbiddenCrossSite.Next, Err: errors.New("csrf token missing or wrong")}
	}
	return nil
}
