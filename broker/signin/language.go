package signin

import (
	"net/http"

	"golang.org/x/text/language"

	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// HandleLanguage is where a page's language link goes: it keeps the language
// the person chose in a cookie (web.PageLocale puts it before ui_locales and
// Accept-Language: a shared computer's browser may not speak its user's
// language) and sends them back to the page. Only a language the pages are
// written in is kept, and only a local address is gone back to, as for any
// return_to (no open redirect).
func (s *Server) HandleLanguage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	tag, err := language.Parse(q.Get("lang"))
	if err != nil || !templates.Supported(tag) {
		return web.ErrNotFound
	}
	http.SetCookie(w, &http.Cookie{Name: web.LocaleCookie, Value: tag.String(), Path: "/", MaxAge: 365 * 24 * 3600,
		Secure: s.secureCookies(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, localReturnTo(q.Get("return_to"), "/"), http.StatusSeeOther)
	return nil
}
