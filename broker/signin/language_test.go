package signin_test

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestLanguageLinkKeepsTheChoice: the sign-in page of an English browser links
// to Cymraeg; following it keeps Welsh in a cookie and comes back to the page,
// now in Welsh although the browser still asks for English, with a link back.
// The link refuses a language the pages do not have (no cookie) and goes back
// only to a local address: //evil.example, https://evil.example and /\evil
// all land on the start page.
func TestLanguageLinkKeepsTheChoice(t *testing.T) {
	t.Parallel()
	e := brokertest.NewSigninEnv(t, brokertest.Options{})
	e.AddOIDC("corp", "oidc.example", false, brokertest.AliceClaims())
	c := brokertest.NewClient(e)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.Abs(path), nil)
		req.Header.Set("Accept-Language", "en-GB,en;q=0.9")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res, brokertest.Body(t, res)
	}
	_, page := get("/login?return_to=%2Faccount")
	m := regexp.MustCompile(`<a href="([^"]*)" lang="cy" hreflang="cy" data-testid="language-cy">Cymraeg</a>`).FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `<html lang="en">`) {
		t.Fatalf("no link to Cymraeg on the English page:\n%s", page)
	}
	res, _ := get(html.UnescapeString(m[1]))
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/login?return_to=%2Faccount" {
		t.Fatalf("language link: %d to %q", res.StatusCode, loc)
	}
	_, page = get("/login?return_to=%2Faccount")
	if !strings.Contains(page, `<html lang="cy">`) || !strings.Contains(page, ">Mewngofnodi</h1>") || !strings.Contains(page, `data-testid="language-en">English</a>`) {
		t.Fatalf("the chosen Welsh did not stick:\n%s", page)
	}

	c2 := brokertest.NewClient(e)
	res, err := c2.Get(e.Abs("/language?lang=fr&return_to=%2Flogin"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || len(res.Cookies()) != 0 {
		t.Errorf("lang=fr: %d, cookies %v", res.StatusCode, res.Cookies())
	}
	for _, back := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example"} {
		res, err := c2.Get(e.Abs("/language?lang=cy&return_to=" + back))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/" {
			t.Errorf("return_to=%s: %d to %q, want the start page", back, res.StatusCode, loc)
		}
		if ck := res.Cookies(); len(ck) != 1 || ck[0].Name != web.LocaleCookie || ck[0].Value != "cy" || !ck[0].HttpOnly {
			t.Errorf("cookie %v", ck)
		}
	}
}
