package admin_test

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// langTransport asks for lang on every request, as a browser set to it does.
type langTransport struct {
	lang string
	base http.RoundTripper
}

func (t langTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept-Language", t.lang)
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// TestConsoleProviderProblemsInWelsh: the add-provider form refused by the
// shared provider checks (broker/upstream) shows each problem in the page's
// language: Welsh with Accept-Language: cy, with the domain the admin typed
// (a % in it) quoted as typed; and in English the same words as the command
// line and the admin API print.
func TestConsoleProviderProblemsInWelsh(t *testing.T) {
	w := newWorld(t)
	admin, _ := w.signIn("alice@corp.example")
	iss := w.partnerIssuer()
	for _, tc := range []struct {
		lang       string
		want, lack []string
	}{
		{"cy-GB,cy;q=0.9,en;q=0.5", []string{`<html lang="cy">`, `nid yw’r parth "50%off" yn barth e-bost fel example.com`, "mae angen name"},
			[]string{"is not an email domain", "is required"}},
		{"en", []string{`<html lang="en">`, `domain "50%off" is not an email domain like example.com`, "name is required"},
			[]string{"parth", "mae angen"}},
	} {
		c := *admin
		c.Transport = langTransport{lang: tc.lang, base: admin.Transport}
		_, page := w.page(&c, "/admin/providers/new")
		res, page := w.submit(&c, page, "/admin/providers/new/oidc", url.Values{"issuer": {iss.URL()}})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: discovery step: %d %s", tc.lang, res.StatusCode, page)
		}
		res, page = w.submit(&c, page, "/admin/providers/new/oidc", url.Values{"id": {"partner"}, "name": {""},
			"client_id": {"gatehouse"}, "client_secret": {partnerSecret}, "domains": {"50%off"}})
		page = html.UnescapeString(page)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("%s: create with two problems: %d %s", tc.lang, res.StatusCode, page)
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
	}
	if n := len(w.events("provider.added")); n != 0 {
		t.Fatal("a refused provider was added")
	}
}

// TestConsoleProviderPackageProblemsInWelsh: what only the provider packages'
// own checks refuse — a claim mapping without a subject (Mapping.Validate),
// an ID-token signing algorithm and an authorization parameter Gatehouse sets
// itself (providers/oidc Config.Validate) — is shown on the add-provider form
// in the page's language: Welsh with Accept-Language: cy, fields named as the
// providers file writes them and the typed values quoted as typed, without
// the English sentences; in English the words the command line and the admin
// API print. Nothing is added.
func TestConsoleProviderPackageProblemsInWelsh(t *testing.T) {
	w := newWorld(t)
	admin, _ := w.signIn("alice@corp.example")
	iss := w.partnerIssuer()
	mapping := url.Values{"map_email": {"mail"}, "map_subject": {""}}
	oidcOnly := url.Values{"signing_algs": {"HS%256"}, "auth_params": {"state=mine"}}
	for _, tc := range []struct {
		name, lang string
		set        url.Values
		want, lack []string
	}{
		{"mapping", "cy-GB,cy;q=0.9,en;q=0.5", mapping,
			[]string{`<html lang="cy">`, "mae angen oidc.mapping.subject: mae mapio’n disodli’r un diofyn, felly rhaid iddo enwi hawliad y dynodwr"},
			[]string{"is required", "a mapping replaces the default one", "MISSING"}},
		{"oidc settings", "cy-GB,cy;q=0.9,en;q=0.5", oidcOnly,
			[]string{`<html lang="cy">`, `oidc.signing_algs: ni chaniateir yr algorithm llofnodi "HS%256" (caniateir: RS256 RS384`,
				`oidc.auth_params: Gatehouse ei hun sy’n gosod y paramedr awdurdodi "state", felly ni ellir ei roi`},
			[]string{"not allowed", "is set by Gatehouse itself", "MISSING"}},
		{"mapping", "en", mapping,
			[]string{`<html lang="en">`, "oidc.mapping.subject is required: a mapping replaces the default one, so it must name the subject claim"},
			[]string{"mae angen", "MISSING"}},
		{"oidc settings", "en", oidcOnly,
			[]string{`<html lang="en">`, `oidc.signing_algs: signing algorithm "HS%256" not allowed (allowed: RS256 RS384`,
				`oidc.auth_params: the authorization parameter "state" is set by Gatehouse itself and cannot be given`},
			[]string{"ni chaniateir", "MISSING"}},
	} {
		c := *admin
		c.Transport = langTransport{lang: tc.lang, base: admin.Transport}
		_, page := w.page(&c, "/admin/providers/new")
		res, page := w.submit(&c, page, "/admin/providers/new/oidc", url.Values{"issuer": {iss.URL()}})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: discovery step: %d %s", tc.name, tc.lang, res.StatusCode, page)
		}
		set := url.Values{"id": {"partner"}, "name": {"Partner"}, "client_id": {"gatehouse"}, "client_secret": {partnerSecret}}
		for k, v := range tc.set {
			set[k] = v
		}
		res, page = w.submit(&c, page, "/admin/providers/new/oidc", set)
		page = html.UnescapeString(page)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("%s %s: create: %d %s", tc.name, tc.lang, res.StatusCode, page)
		}
		for _, s := range tc.want {
			if !strings.Contains(page, s) {
				t.Errorf("%s %s: the page lacks %q", tc.name, tc.lang, s)
			}
		}
		for _, s := range tc.lack {
			if strings.Contains(page, s) {
				t.Errorf("%s %s: the page shows %q", tc.name, tc.lang, s)
			}
		}
	}
	if n := len(w.events("provider.added")); n != 0 {
		t.Fatal("a refused provider was added")
	}
	if _, err := w.DB.Providers().Get(t.Context(), "partner"); err == nil {
		t.Fatal("a refused provider was stored")
	}
}

// TestConsoleMetadataProblemsInWelsh: IdP metadata that providers/saml's
// checks refuse (no signing certificate) is refused on the add-provider
// form in the page's language, without the English sentence; in English
// with the words the command line and the admin API print.
func TestConsoleMetadataProblemsInWelsh(t *testing.T) {
	w := newWorld(t)
	admin, _ := w.signIn("alice@corp.example")
	k, cert := brokertest.SAMLKeys()
	idp := providertest.NewSAMLIdP(w.Clk.Now, k, cert, brokertest.Carol())
	t.Cleanup(idp.Close)
	unsigned := regexp.MustCompile(`(?s)<(?:\w+:)?KeyDescriptor.*?</(?:\w+:)?KeyDescriptor>`).ReplaceAll(idp.Metadata(), nil)
	md := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.Write(unsigned) }))
	t.Cleanup(md.Close)
	before, err := w.DB.Providers().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lang       string
		want, lack []string
	}{
		{"cy", []string{`<html lang="cy">`, "metadata: dim tystysgrif llofnodi"}, []string{"no signing certificate", "MISSING"}},
		{"en", []string{`<html lang="en">`, "The metadata cannot be used: metadata: no signing certificate"}, []string{"dim tystysgrif", "MISSING"}},
	} {
		c := *admin
		c.Transport = langTransport{lang: tc.lang, base: admin.Transport}
		_, page := w.page(&c, "/admin/providers/new")
		res, page := w.submit(&c, page, "/admin/providers/new/saml", url.Values{"metadata_url": {md.URL}})
		page = html.UnescapeString(page)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("%s: %d %s", tc.lang, res.StatusCode, page)
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
	}
	if n := len(w.events("provider.added")); n != 0 {
		t.Fatal("a provider was added")
	}
	if after, err := w.DB.Providers().List(t.Context()); err != nil || len(after) != len(before) {
		t.Fatalf("providers stored: %d before, %d after (%v)", len(before), len(after), err)
	}
}
