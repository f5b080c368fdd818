package admin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// TestConsoleInWelsh: an admin whose browser asks for Welsh (Accept-Language)
// gets the console's home, apps and audit log in Welsh, with <html lang="cy">:
// the headings and buttons, what the handlers compose in Go (an app's type,
// the chart's title, a filter's problem) and the dates (the charts' months).
func TestConsoleInWelsh(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, w.Abs(path), nil)
		req.Header.Set("Accept-Language", "cy-GB,cy;q=0.9,en;q=0.5")
		res, err := c.Do(req)
		brokertest.Must(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	month := map[string]string{"Jan": "Ion", "Feb": "Chwef", "Mar": "Maw", "Apr": "Ebr", "May": "Mai", "Jun": "Meh",
		"Jul": "Gorff", "Aug": "Awst", "Sep": "Medi", "Oct": "Hyd", "Nov": "Tach", "Dec": "Rhag"}[w.Clk.Now().UTC().Format("Jan")]
	for _, tc := range []struct {
		path       string
		status     int
		want, lack []string
	}{
		{"/admin", 200, []string{"<h1>Gweinyddu</h1>", "Mewngofnodion fesul darparwr bob dydd", "Gwrthodwyd", " " + month + "</text>"},
			[]string{"Sign-ins per provider per day", "Refused"}},
		{"/admin/apps", 200, []string{"<h1>Apiau</h1>", "Ychwanegu ap", "cyfrinachol", "erioed"}, []string{"Add an app", "confidential", "never"}},
		{"/admin/apis", 200, []string{"<h1>APIs</h1>", "Ychwanegu API", "ni chaniateir"}, []string{"Add an API", "not allowed"}},
		{"/admin/audit?outcome=maybe", 422, []string{"<h1>Log archwilio</h1>", "Rhaid i outcome fod yn", "Hidlo"}, []string{"must be", "Filter"}},
	} {
		status, page := get(tc.path)
		if status != tc.status || !strings.Contains(page, `<html lang="cy">`) {
			t.Errorf("%s: %d, lang cy %v", tc.path, status, strings.Contains(page, `<html lang="cy">`))
		}
		for _, s := range tc.want {
			if !strings.Contains(page, s) {
				t.Errorf("%s lacks %q", tc.path, s)
			}
		}
		for _, s := range tc.lack {
			if strings.Contains(page, s) {
				t.Errorf("%s shows the English %q", tc.path, s)
			}
		}
	}
}

// TestConsoleProblemQuotesInputAsTyped: a validation problem that quotes what
// was typed shows it as typed; it is not read as a catalogue format, where a %
// (as URLs have) would turn into %!w(MISSING).
func TestConsoleProblemQuotesInputAsTyped(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	_, page := w.page(c, "/admin/apps/new")
	res, page := w.submit(c, page, "/admin/apps/new", url.Values{"id": {"portal"}, "name": {"Portal"},
		"redirect_uris": {"https://portal.test/cb"}, "grant_types": {"authorization_code pass%word"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `grant type &#34;pass%word&#34; is not one of`) ||
		strings.Contains(page, "MISSING") {
		t.Errorf("%d: the problem is not shown as typed: %s", res.StatusCode, page)
	}
}

// TestConsoleRegistryProblemsInWelsh: the problems broker/registry finds with
// an app's form are said in the page's language, each quoting what was typed
// as it was typed (a % stays a %); the same form in English shows them in the
// English the command line and the admin API print.
func TestConsoleRegistryProblemsInWelsh(t *testing.T) {
	w := newWorld(t)
	c, _ := w.signIn("alice@corp.example")
	post := func(lang string) (int, string) {
		t.Helper()
		_, page := w.page(c, "/admin/apps/new")
		f := formFields(t, page, "/admin/apps/new")
		for k, v := range (url.Values{"id": {"portal"}, "name": {"Portal"}, "redirect_uris": {"http://portal.test/cb?q=100%"},
			"grant_types": {"authorization_code pass%word"}}) {
			f[k] = v
		}
		req, _ := http.NewRequest(http.MethodPost, w.Abs("/admin/apps/new"), strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", w.TS.URL)
		req.Header.Set("Accept-Language", lang)
		res, err := c.Do(req)
		brokertest.Must(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, tc := range []struct {
		lang       string
		want, lack []string
	}{
		{"cy", []string{`<html lang="cy">`, "nid yw’r math grant &#34;pass%word&#34; yn un o authorization_code, refresh_token, client_credentials",
			"URI ailgyfeirio &#34;http://portal.test/cb?q=100%&#34;: caniateir http ar westeiwr loopback yn unig (defnyddiwch https)"},
			[]string{"is not one of", "http is allowed only", "MISSING"}},
		{"en", []string{`<html lang="en">`, "grant type &#34;pass%word&#34; is not one of authorization_code, refresh_token, client_credentials",
			"redirect URI &#34;http://portal.test/cb?q=100%&#34;: http is allowed only on a loopback host (use https)"},
			[]string{"math grant", "MISSING"}},
	} {
		status, page := post(tc.lang)
		if status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d", tc.lang, status)
		}
		for _, s := range tc.want {
			if !strings.Contains(page, s) {
				t.Errorf("%s: the page lacks %q", tc.lang, s)
			}
		}
		for _, s := range tc.lack {
			if strings.Contains(page, s) {
				t.Errorf("%s: the page shows %q", tc.lang, s)
			}
		}
		if _, err := w.DB.Clients().Get(t.Context(), "portal"); err == nil {
			t.Errorf("%s: the refused app was stored", tc.lang)
		}
	}
}

// TestConsoleCertificateSubjectProblemsInWelsh: a tls_client_auth app whose
// certificate subject broker/mtls refuses is refused on the app form in the
// page's language — Welsh with Accept-Language: cy, quoting the subject as
// typed (a % stays a %), without the English sentence — and in English the
// words the command line and the admin API print. Nothing is stored.
func TestConsoleCertificateSubjectProblemsInWelsh(t *testing.T) {
	w := newWorld(t)
	admin, _ := w.signIn("alice@corp.example")
	for _, tc := range []struct {
		lang, kind, subject string
		want, lack          []string
	}{
		{"cy", "subject_dn", "CN=a<b%", []string{`<html lang="cy">`, `DN testun "CN=a<b%": rhaid dianc y nod '<'`},
			[]string{"must be escaped", "subject DN", "MISSING"}},
		{"cy", "san_ip", "10.0.0.1%eth0x", []string{`<html lang="cy">`, `nid yw SAN IP y dystysgrif "10.0.0.1%eth0x" yn gyfeiriad IP`},
			[]string{"is not an IP address", "MISSING"}},
		{"en", "subject_dn", "CN=a<b%", []string{`<html lang="en">`, `subject DN "CN=a<b%": '<' must be escaped`},
			[]string{"rhaid dianc", "MISSING"}},
	} {
		c := *admin
		c.Transport = langTransport{lang: tc.lang, base: admin.Transport}
		_, page := w.page(&c, "/admin/apps/new")
		res, page := w.submit(&c, page, "/admin/apps/new", url.Values{"id": {"kiosk"}, "grant_types": {"client_credentials"},
			"default_api": {notesAudience}, "token_endpoint_auth_method": {registry.AuthTLSClient},
			"cert_subject_kind": {tc.kind}, "cert_subject": {tc.subject}})
		page = html.UnescapeString(page)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s %s: status %d", tc.lang, tc.subject, res.StatusCode)
		}
		for _, s := range tc.want {
			if !strings.Contains(page, s) {
				t.Errorf("%s %s: the page lacks %q", tc.lang, tc.subject, s)
			}
		}
		for _, s := range tc.lack {
			if strings.Contains(page, s) {
				t.Errorf("%s %s: the page shows %q", tc.lang, tc.subject, s)
			}
		}
	}
	if _, err := w.DB.Clients().Get(t.Context(), "kiosk"); err == nil {
		t.Error("the refused app was stored")
	}
	if n := len(w.events("client.created")); n != 0 {
		t.Errorf("%d client.created events for a refused app", n)
	}
}

// TestAdminAPIProblemsStayEnglish: the admin API answers with the English
// problems it always gave, word for word, even when the caller's
// Accept-Language asks for Welsh — a certificate subject broker/mtls refuses,
// and provider settings only providers/oidc's checks refuse — and stores
// nothing.
func TestAdminAPIProblemsStayEnglish(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	iss := w.partnerIssuer()
	call := func(path string, in map[string]any) (int, []any) {
		t.Helper()
		b, _ := json.Marshal(in)
		req, _ := http.NewRequest(http.MethodPost, w.Abs(path), bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept-Language", "cy")
		res, err := w.TS.Client().Do(req)
		brokertest.Must(t, err)
		defer res.Body.Close()
		var out struct {
			Errors []any `json:"errors"`
		}
		brokertest.Must(t, json.NewDecoder(res.Body).Decode(&out))
		return res.StatusCode, out.Errors
	}
	for _, tc := range []struct {
		name, path string
		in         map[string]any
		want       []string
	}{
		{"certificate subject", "/api/admin/v1/clients", map[string]any{"id": "bad-fleet", "grant_types": []any{"client_credentials"},
			"default_api": notesAudience, "token_endpoint_auth_method": registry.AuthTLSClient, "tls_client_auth_subject_dn": "CN=a<b%"},
			[]string{`subject DN "CN=a<b%": '<' must be escaped`}},
		{"mapping", "/api/admin/v1/providers", map[string]any{"id": "partner", "kind": "oidc", "name": "Partner", "client_secret": partnerSecret,
			"oidc": map[string]any{"issuer": iss.URL(), "client_id": "gatehouse", "mapping": map[string]any{"email": []any{"mail"}}}},
			[]string{"oidc.mapping.subject is required: a mapping replaces the default one, so it must name the subject claim"}},
		{"oidc settings", "/api/admin/v1/providers", map[string]any{"id": "partner", "kind": "oidc", "name": "Partner", "client_secret": partnerSecret,
			"oidc": map[string]any{"issuer": iss.URL(), "client_id": "gatehouse", "signing_algs": []any{"HS%256"}, "auth_params": map[string]any{"state": "mine"}}},
			[]string{`oidc.signing_algs: signing algorithm "HS%256" not allowed (allowed: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA)`,
				`oidc.auth_params: the authorization parameter "state" is set by Gatehouse itself and cannot be given`}},
	} {
		status, errs := call(tc.path, tc.in)
		if status != http.StatusUnprocessableEntity || fmt.Sprint(errs) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %d %q, want 422 %q", tc.name, status, errs, tc.want)
		}
	}
	if _, err := w.DB.Clients().Get(t.Context(), "bad-fleet"); err == nil {
		t.Error("the refused app was stored")
	}
	if _, err := w.DB.Providers().Get(t.Context(), "partner"); err == nil {
		t.Error("the refused provider was stored")
	}
}
