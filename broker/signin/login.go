package signin

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/gatehouse/gatehouse/broker/emailaddr"
	"github.com/gatehouse/gatehouse/broker/ratelimit"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// The last-provider cookie remembers the provider of the last sign-in for a
// one-click return. It holds only a provider ID, which is checked against the
// registry. __Host- on https issuers like every other cookie (WEB-08).
const (
	LastProviderCookieSecure   = "__Host-gatehouse-last-provider"
	lastProviderCookieInsecure = "gatehouse-last-provider"
)

func (s *Server) lastProviderCookie() string {
	if s.secureCookies() {
		return LastProviderCookieSecure
	}
	return lastProviderCookieInsecure
}

// defaultReturnTo is where a sign-in ends when nobody asked for anywhere else.
const defaultReturnTo = "/account"

// HandleLogin is the sign-in page. login_hint whose email domain picks exactly
// one provider, or idp_hint naming one, skip it.
func (s *Server) HandleLogin(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	returnTo := localReturnTo(q.Get("return_to"), defaultReturnTo)
	enabled, err := s.upstreams.Enabled(r.Context())
	if err != nil {
		return err
	}
	if p, ok := s.authz.SignInDemands(returnTo); ok && p.SelectAccount {
		// select_account: the person chooses; no hint chooses for them.
		return s.renderLogin(w, r, enabled, web.Truncate(strings.TrimSpace(q.Get("login_hint")), 256), returnTo, "", nil)
	}
	if hint := q.Get("idp_hint"); hint != "" {
		if i := slices.IndexFunc(enabled, func(c store.ProviderConfig) bool { return c.ID == hint }); i >= 0 {
			http.Redirect(w, r, startURL(hint, returnTo, q.Get("login_hint")), http.StatusSeeOther)
			return nil
		}
	}
	email := web.Truncate(strings.TrimSpace(q.Get("login_hint")), 256)
	if email != "" {
		if m := matchDomain(enabled, email); len(m) == 1 {
			http.Redirect(w, r, startURL(m[0].ID, returnTo, email), http.StatusSeeOther)
			return nil
		}
	}
	return s.renderLogin(w, r, enabled, email, returnTo, "", nil)
}

// HandleLoginSubmit is home-realm discovery: the email's domain picks the provider.
func (s *Server) HandleLoginSubmit(w http.ResponseWriter, r *http.Request) error {
	returnTo := localReturnTo(r.PostFormValue("return_to"), defaultReturnTo)
	email := web.Truncate(strings.TrimSpace(r.PostFormValue("email")), 256)
	enabled, err := s.upstreams.Enabled(r.Context())
	if err != nil {
		return err
	}
	m := matchDomain(enabled, email)
	switch {
	case len(m) == 1:
		http.Redirect(w, r, startURL(m[0].ID, returnTo, email), http.StatusSeeOther)
		return nil
	case len(m) > 1:
		return s.renderLogin(w, r, m, email, returnTo, "Several organisations use this email domain. Choose yours.", nil)
	}
	return s.renderLogin(w, r, enabled, email, returnTo,
		"No organisation is set up for this email address. Choose one below, or check the address.", nil)
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, list []store.ProviderConfig, email, returnTo, msg string, _ error) error {
	token, err := s.web.CSRFToken(w, r, "/login")
	if err != nil {
		return err
	}
	if d, ok := s.authz.SignInDemands(returnTo); ok {
		r = r.WithContext(web.WithUILocales(r.Context(), d.UILocales))
	}
	v := templates.LoginView{Page: templates.Page{Title: "Sign in"}, CSRF: token, Email: email, ReturnTo: returnTo, Message: msg}
	for _, c := range list {
		v.Providers = append(v.Providers, s.choice(r, c, startURL(c.ID, returnTo, "")))
	}
	if c, err := r.Cookie(s.lastProviderCookie()); err == nil && msg == "" {
		if i := slices.IndexFunc(list, func(p store.ProviderConfig) bool { return p.ID == c.Value }); i >= 0 {
			ch := s.choice(r, list[i], startURL(list[i].ID, returnTo, ""))
			v.LastUsed = &ch
		}
	}
	if msg == "" && len(list) == 0 {
		v.Message = "No sign-in providers are configured yet. Ask your administrator."
	}
	// select_account without prompt=login: the signed-in account is one of the
	// choices (OIDC Core §3.1.2.1); resuming with it is the choice made.
	if p, ok := s.authz.SignInDemands(returnTo); ok && p.SelectAccount && !p.ForceLogin {
		if _, u, ok := s.web.CurrentSession(r); ok {
			v.ContinueAs = &templates.AccountChoice{Name: web.DisplayName(u), Email: u.Email, Href: returnTo}
		}
	}
	s.allowUpstreamForms(w, r)
	return web.Render(w, r, http.StatusOK, templates.Login(v))
}

// choice is how a provider appears in a list. The logo is shown only if https.
func (s *Server) choice(r *http.Request, c store.ProviderConfig, href string) templates.ProviderChoice {
	ch := templates.ProviderChoice{ID: c.ID, Name: c.Name, Href: href}
	if b, err := s.upstreams.Get(r.Context(), c.ID); err == nil {
		ch.LogoURL = web.HTTPSURL(b.Common.LogoURL)
	}
	return ch
}

func startURL(id, returnTo, loginHint string) string {
	q := url.Values{}
	if returnTo != "" && returnTo != defaultReturnTo {
		q.Set("return_to", returnTo)
	}
	if loginHint != "" {
		q.Set("login_hint", loginHint)
	}
	u := "/login/" + url.PathEscape(id)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// matchDomain returns the providers that list email's domain.
func matchDomain(list []store.ProviderConfig, email string) []store.ProviderConfig {
	domain := emailaddr.Domain(email)
	if domain == "" {
		return nil
	}
	var out []store.ProviderConfig
	for _, c := range list {
		if slices.Contains(c.Domains, domain) {
			out = append(out, c)
		}
	}
	return out
}

var errUnknownProvider = &web.UserError{Status: http.StatusNotFound, Title: "Unknown sign-in option",
	Message: "This sign-in option does not exist or is switched off.", Next: "Go back to the sign-in page and choose another."}

// provider returns the built provider named in the path.
func (s *Server) provider(r *http.Request) (*upstream.Built, error) {
	b, err := s.upstreams.Get(r.Context(), r.PathValue("provider"))
	switch {
	case errors.Is(err, upstream.ErrUnknown):
		return nil, errUnknownProvider
	case errors.Is(err, providers.ErrConfig):
		return nil, &web.UserError{Status: http.StatusServiceUnavailable, Title: "Sign-in option unavailable",
			Message: providers.PublicMessage(err), Next: "Choose another sign-in option, or contact your administrator.", Err: err}
	}
	return b, err
}

// HandleLoginStart begins a sign-in at the provider in the path.
func (s *Server) HandleLoginStart(w http.ResponseWriter, r *http.Request) error {
	if err := s.rateLimit(s.limits.start, r); err != nil {
		return err
	}
	b, err := s.provider(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := flow{Purpose: flowLogin, ReturnTo: localReturnTo(q.Get("return_to"), defaultReturnTo)}
	bp := providers.BeginParams{LoginHint: web.Truncate(q.Get("login_hint"), 256)}
	if d, ok := s.authz.SignInDemands(f.ReturnTo); ok {
		s.applyDemands(d, &f, &bp)
	}
	return s.beginFlow(w, r, b, f, bp)
}

// beginFlow asks the provider for the hop upstream, keeps its pending state in
// the flow cookie and sends the browser on its way.
func (s *Server) beginFlow(w http.ResponseWriter, r *http.Request, b *upstream.Built, f flow, bp providers.BeginParams) error {
	bp.CallbackURL = upstream.EndpointsFor(s.cfg.Issuer, b.Config.ID).Callback
	start, err := b.Provider.Begin(r.Context(), bp)
	if err != nil {
		return s.upstreamFailure(r, b.Config.ID, "signin.begin_failed", err)
	}
	f.Provider, f.Pending = b.Config.ID, start.Pending
	if err := s.setFlow(w, f, b.Config.Kind == upstream.KindSAML); err != nil {
		return err
	}
	return s.sendUpstream(w, r, start, "Signing you in")
}

// sendUpstream redirects to the provider, or renders the auto-POST form. then
// are origins the provider's answer may send the browser on to (an
// application's post-logout return): CSP form-action also governs the redirects
// that follow a form's submission.
func (s *Server) sendUpstream(w http.ResponseWriter, r *http.Request, start providers.Start, title string, then ...string) error {
	if start.Form == nil {
		http.Redirect(w, r, start.RedirectURL, http.StatusSeeOther)
		return nil
	}
	v := templates.AutoPostView{Page: templates.Page{Title: title}, Action: start.Form.Action}
	for _, f := range start.Form.Fields {
		v.Fields = append(v.Fields, templates.Field{Name: f.Name, Value: f.Value})
	}
	web.SetFormAction(w, append([]string{web.Origin(start.Form.Action)}, then...)...)
	return web.Render(w, r, http.StatusOK, templates.AutoPost(v))
}

// loginLimits are the per-IP limits on starting sign-in flows (which also caps the
// pending flows one address can hold within their lifetime, WEB-24) and on upstream
// callbacks (DOS-08).
type loginLimits struct {
	start    *ratelimit.Keyed
	callback *ratelimit.Keyed
}

func newLoginLimits(now func() time.Time) loginLimits {
	return loginLimits{
		start:    ratelimit.New(rate.Every(6*time.Second), 30, now), // 30 at once, then 10 a minute
		callback: ratelimit.New(rate.Every(3*time.Second), 30, now),
	}
}

// rateLimit refuses a person's request once their address has used up l.
func (s *Server) rateLimit(l *ratelimit.Keyed, r *http.Request) error {
	ok, wait := l.Take(web.InfoFrom(r.Context()).IP, 1)
	if ok {
		return nil
	}
	return &web.UserError{Status: http.StatusTooManyRequests, Title: "Too many attempts",
		Message: "There were too many sign-in attempts from your network.",
		Next:    "Wait a minute and try again.", RetryAfter: wait,
		Err: errors.New("sign-in rate limit for this address")}
}
