package broker_test

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

var brandCSSLink = regexp.MustCompile(`<link rel="stylesheet" href="(/brand\.css\?v=[0-9a-f]{12})">`)

// TestBrandOnEveryPage: the configured name, logo, colours and support contact
// appear on pages and on error pages; the colours come as a stylesheet from
// Gatehouse itself (the CSP's style-src 'self' unchanged, WEB-13) holding
// nothing but the two validated colours; unset, the pages are Gatehouse's own
// and there is no brand stylesheet.
func TestBrandOnEveryPage(t *testing.T) {
	ts := brokertest.NewTestServer(t, "https://id.example.com", map[string]string{
		"GATEHOUSE_BRAND_NAME": "Health Board <Sign-in>", "GATEHOUSE_BRAND_LOGO_URL": "https://hb.example/logo.svg",
		"GATEHOUSE_BRAND_COLOR": "#005eb8", "GATEHOUSE_BRAND_COLOR_DARK": "#41b6e6", "GATEHOUSE_SUPPORT_CONTACT": "help@hb.example"}, nil)
	for _, path := range []string{"/", "/login", "/no-such-page"} {
		res := ts.Do(httptest.NewRequest("GET", path, nil))
		page := brokertest.Body(t, res)
		for _, want := range []string{"· Health Board &lt;Sign-in&gt;</title>", `src="https://hb.example/logo.svg"`,
			`href="mailto:help@hb.example"`, "Health Board &lt;Sign-in&gt;</a>"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %s", path, want)
			}
		}
		if !brandCSSLink.MatchString(page) {
			t.Errorf("%s does not link the brand stylesheet", path)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self';") {
			t.Errorf("CSP %s", csp)
		}
		if strings.Contains(page, "<style") {
			t.Errorf("%s has an inline style", path)
		}
	}
	page := brokertest.Body(t, ts.Do(httptest.NewRequest("GET", "/", nil)))
	href := brandCSSLink.FindStringSubmatch(page)[1]
	res := ts.Do(httptest.NewRequest("GET", href, nil))
	css := brokertest.Body(t, res)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Fatalf("GET %s: %d %v", href, res.StatusCode, res.Header)
	}
	want := ":root { --brand: #005eb8; --brand-ink: #ffffff; }\n@media (prefers-color-scheme: dark) {\n  :root { --brand: #41b6e6; --brand-ink: #0f1318; }\n}\n"
	if css != want {
		t.Errorf("brand.css:\n%s\nwant:\n%s", css, want)
	}

	plain := brokertest.NewTestServer(t, "https://id.example.com", nil, nil)
	page = brokertest.Body(t, plain.Do(httptest.NewRequest("GET", "/", nil)))
	if brandCSSLink.MatchString(page) || !strings.Contains(page, "· Gatehouse</title>") ||
		!strings.Contains(page, "Gatehouse identity broker") || strings.Contains(page, `data-testid="support"`) {
		t.Errorf("default page changed:\n%s", page)
	}
	if res := plain.Do(httptest.NewRequest("GET", "/brand.css", nil)); res.StatusCode != 404 {
		t.Errorf("brand.css without a brand: %d", res.StatusCode)
	}
}
