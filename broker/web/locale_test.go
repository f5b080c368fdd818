package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/text/language"
)

// TestPageLocale: the person's own choice (the language cookie) first, then
// the application's ui_locales, then Accept-Language, then the configured
// default; each is skipped when it names no language Gatehouse has.
func TestPageLocale(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		cookie, ui, accept, want string
		def                      language.Tag
	}{
		{"nothing: the default", "", "", "", "en", language.English},
		{"nothing: a Welsh default", "", "", "", "cy", language.MustParse("cy")},
		{"Accept-Language", "", "", "cy-GB,cy;q=0.9,en;q=0.5", "cy", language.English},
		{"ui_locales over Accept-Language", "", "cy", "en-GB", "cy", language.English},
		{"ui_locales without a language we have", "", "fr de", "cy", "cy", language.English},
		{"the cookie over ui_locales", "en", "cy", "cy", "en", language.English},
		{"a nonsense cookie is ignored", "xx-!!", "", "cy", "cy", language.English},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/login", nil)
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: LocaleCookie, Value: tc.cookie})
			}
			if tc.accept != "" {
				r.Header.Set("Accept-Language", tc.accept)
			}
			ctx := WithInfo(r.Context(), RequestInfo{DefaultLocale: tc.def})
			r = r.WithContext(WithUILocales(ctx, tc.ui))
			if got := PageLocale(r); got.String() != tc.want {
				t.Errorf("PageLocale = %v, want %s", got, tc.want)
			}
		})
	}
}
