package admin_test

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// TestConsoleProviderOIDCSettings: the OIDC form has the extra authorization
// parameters, the ID token signing algorithms and the UserInfo merge, with
// labels; they are stored on add, shown and changed on edit, and used at
// once (the authorization request carries the parameters). What the provider
// cannot use is refused on the form with 422, each problem listed, and
// nothing is stored.
func TestConsoleProviderOIDCSettings(t *testing.T) {
	w := newWorld(t)
	c, aliceID := w.signIn("alice@corp.example")
	iss := w.partnerIssuer()

	_, page := w.page(c, "/admin/providers/new")
	_, page = w.submit(c, page, "/admin/providers/new/oidc", url.Values{"issuer": {iss.URL()}})
	for _, want := range []string{`<label for="pf-authparams">`, `id="pf-authparams" name="auth_params"`,
		`<label for="pf-algs">`, `id="pf-algs" name="signing_algs"`, `name="userinfo_merge"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the add form lacks %s", want)
		}
	}
	res, _ := w.submit(c, page, "/admin/providers/new/oidc", url.Values{"id": {"partner"}, "name": {"Partner"},
		"client_id": {"gatehouse"}, "client_secret": {partnerSecret}, "domains": {"partner.example"},
		"auth_params": {"prompt=select_account\r\n\r\n acr_values = urn:example:mfa \r\n"}, "signing_algs": {"RS256 ES256"},
		"userinfo_merge": {"on"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", res.StatusCode)
	}
	s, _ := upstream.DecodeOIDC(w.provider("partner").Settings)
	if !maps.Equal(s.AuthParams, map[string]string{"prompt": "select_account", "acr_values": "urn:example:mfa"}) ||
		!slices.Equal(s.SigningAlgs, []string{"RS256", "ES256"}) || !s.UserinfoMerge {
		t.Fatalf("stored %+v", s)
	}
	w.wantAudited("provider.added", "partner", aliceID, "console")

	// Used at once: the parameters go to the OP with the sign-in.
	dave := brokertest.NewClient(w.SigninEnv)
	res = w.Get(dave, "/login/partner")
	res.Body.Close()
	res = w.Get(dave, res.Header.Get("Location"))
	res.Body.Close()
	if q, _ := url.Parse(res.Request.URL.String()); q.Query().Get("prompt") != "select_account" || q.Query().Get("acr_values") != "urn:example:mfa" {
		t.Errorf("authorization request %s lacks the parameters", res.Request.URL)
	}

	_, page = w.page(c, "/admin/providers/partner")
	for _, want := range []string{">acr_values=urn:example:mfa\nprompt=select_account</textarea>", `value="RS256 ES256" data-testid="provider-signing-algs"`,
		`value="on" checked data-testid="provider-userinfo-merge"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the edit page lacks %q", want)
		}
	}

	// Refused on the form: a line that is not name=value, a name twice; then
	// what the provider refuses: a parameter Gatehouse sets itself, a
	// symmetric algorithm.
	for _, tc := range []struct {
		params, algs string
		want         []string
	}{
		{"prompt", "", []string{`Authorization parameter “prompt” is not name=value.`}},
		{"prompt=login\nprompt=none", "", []string{`Authorization parameter “prompt” is given twice.`}},
		{"state=fixed\nprompt=login", "HS256", []string{`authorization parameter &#34;state&#34; is set by Gatehouse itself`,
			`signing algorithm &#34;HS256&#34; not allowed`}},
	} {
		_, page = w.page(c, "/admin/providers/partner")
		res, page := w.submit(c, page, "/admin/providers/partner", url.Values{"auth_params": {tc.params}, "signing_algs": {tc.algs}})
		if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `data-testid="provider-problems"`) {
			t.Fatalf("%q %q: %d", tc.params, tc.algs, res.StatusCode)
		}
		for _, want := range tc.want {
			if !strings.Contains(page, want) {
				t.Errorf("%q %q: the page does not say %s", tc.params, tc.algs, want)
			}
		}
	}
	if p := w.provider("partner"); p.Version != 1 || len(w.events("provider.updated")) != 0 {
		t.Fatalf("a refused edit was stored: version %d", p.Version)
	}

	// Cleared on the form, they are gone (not kept from the stored settings).
	_, page = w.page(c, "/admin/providers/partner")
	res, _ = w.submit(c, page, "/admin/providers/partner", url.Values{"auth_params": {""}, "signing_algs": {""}, "userinfo_merge": nil})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear: %d", res.StatusCode)
	}
	if s, _ := upstream.DecodeOIDC(w.provider("partner").Settings); s.AuthParams != nil || s.SigningAlgs != nil || s.UserinfoMerge {
		t.Fatalf("after clearing: %+v", s)
	}
}

// TestAdminAPIProviderOIDCSettingsRefused: the API refuses, with 422 and
// each problem, an authorization parameter Gatehouse sets itself, a nameless
// one and an algorithm other than the asymmetric ones; nothing is stored.
func TestAdminAPIProviderOIDCSettingsRefused(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	iss := w.partnerIssuer()
	status, h, body := w.call("POST", "/api/admin/v1/providers", tok, map[string]any{"id": "partner", "kind": "oidc", "name": "Partner",
		"client_secret": "s", "oidc": map[string]any{"issuer": iss.URL(), "client_id": "gatehouse", "auth_params": map[string]any{"nonce": "fixed", "": "x", "prompt": "login"},
			"signing_algs": []any{"RS256", "none"}}})
	problems := asJSON(body)
	if status != http.StatusUnprocessableEntity || h.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(problems, `authorization parameter \"nonce\" is set by Gatehouse itself`) ||
		!strings.Contains(problems, "an authorization parameter needs a name") || !strings.Contains(problems, `signing algorithm \"none\" not allowed`) {
		t.Fatalf("%d %v %s", status, h, problems)
	}
	if n := len(w.events("provider.added")); n != 0 {
		t.Fatalf("%d provider.added events", n)
	}
	if _, err := w.DB.Providers().Get(t.Context(), "partner"); err == nil {
		t.Fatal("stored")
	}
}

// TestProviderSAMLRequestSigningAndEncryption: sign_requests and
// require_encrypted_assertions through the API (shown always; absent
// sign_requests means signed, and an explicit true stores nothing new) and
// the console (the add form has requests signed, the edit form changes both);
// the SP metadata follows at once.
func TestProviderSAMLRequestSigningAndEncryption(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	k, cert := brokertest.SAMLKeys()
	idp := providertest.NewSAMLIdP(w.Clk.Now, k, cert, brokertest.Carol())
	t.Cleanup(idp.Close)
	in := map[string]any{"id": "college", "kind": "saml", "name": "College", "saml": map[string]any{"metadata_xml": string(idp.Metadata())}}
	status, _, body := w.call("POST", "/api/admin/v1/providers", tok, in)
	saml, _ := body["saml"].(map[string]any)
	if status != http.StatusCreated || saml["sign_requests"] != true || saml["require_encrypted_assertions"] != nil {
		t.Fatalf("create: %d %v", status, body)
	}
	if strings.Contains(string(w.provider("college").Settings), "sign_requests") {
		t.Error("the default is stored")
	}
	spMetadata := func() string {
		res := w.Get(brokertest.NewClient(w.SigninEnv), "/saml/college/metadata")
		return brokertest.Body(t, res)
	}
	if md := spMetadata(); !strings.Contains(md, `AuthnRequestsSigned="true"`) || !strings.Contains(md, `<KeyDescriptor use="encryption">`) {
		t.Fatalf("SP metadata: %s", md)
	}
	// An explicit true is the default: nothing changes, not even the version.
	in["version"] = 1
	in["saml"].(map[string]any)["sign_requests"] = true
	if status, _, body = w.call("PUT", "/api/admin/v1/providers/college", tok, in); status != 200 || body["version"] != 1.0 {
		t.Fatalf("PUT sign_requests true: %d %v", status, body)
	}
	in["saml"].(map[string]any)["sign_requests"] = false
	in["saml"].(map[string]any)["require_encrypted_assertions"] = true
	status, _, body = w.call("PUT", "/api/admin/v1/providers/college", tok, in)
	saml, _ = body["saml"].(map[string]any)
	if status != 200 || saml["sign_requests"] != false || saml["require_encrypted_assertions"] != true || body["version"] != 2.0 {
		t.Fatalf("PUT: %d %v", status, body)
	}
	if s, _ := upstream.DecodeSAML(w.provider("college").Settings); s.SignsRequests() || !s.RequireEncryptedAssertions {
		t.Fatalf("stored %+v", s)
	}
	if md := spMetadata(); !strings.Contains(md, `AuthnRequestsSigned="false"`) {
		t.Fatalf("SP metadata after the change: %s", md)
	}
	w.wantAudited("provider.updated", "college", "client:robot", "api")

	// The console's edit form shows both, labelled, and turns them back.
	c, aliceID := w.signIn("alice@corp.example")
	_, page := w.page(c, "/admin/providers/college")
	for _, want := range []string{`name="sign_requests" value="on" data-testid="provider-sign-requests"> Sign authentication requests`,
		`name="require_encrypted_assertions" value="on" checked data-testid="provider-require-encryption"> Require encrypted assertions`} {
		if !strings.Contains(page, want) {
			t.Errorf("the edit page lacks %q", want)
		}
	}
	res, _ := w.submit(c, page, "/admin/providers/college", url.Values{"sign_requests": {"on"}, "require_encrypted_assertions": nil})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", res.StatusCode)
	}
	if s, _ := upstream.DecodeSAML(w.provider("college").Settings); !s.SignsRequests() || s.RequireEncryptedAssertions || s.SignRequests != nil {
		t.Fatalf("stored after the edit %+v", s)
	}
	if md := spMetadata(); !strings.Contains(md, `AuthnRequestsSigned="true"`) {
		t.Fatalf("SP metadata after the edit: %s", md)
	}
	w.wantAudited("provider.updated", "college", aliceID, "console")

	// The add form starts with requests signed and encryption not required.
	md := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.Write(idp.Metadata()) }))
	t.Cleanup(md.Close)
	_, page = w.page(c, "/admin/providers/new")
	_, page = w.submit(c, page, "/admin/providers/new/saml", url.Values{"metadata_url": {md.URL}})
	for _, want := range []string{`name="sign_requests" value="on" checked data-testid="provider-sign-requests"`,
		`name="require_encrypted_assertions" value="on" data-testid="provider-require-encryption"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the add form lacks %q", want)
		}
	}
}

// TestAdminAPIRefusesOIDCProviderWithoutSecret: an enabled OIDC provider
// without a client secret could never complete a sign-in (Gatehouse is a
// confidential client upstream), so the API refuses it with 422 naming
// client_secret, as the CLI and providers files do, and stores nothing; a
// disabled one may wait for its secret.
func TestAdminAPIRefusesOIDCProviderWithoutSecret(t *testing.T) {
	w := newWorld(t)
	tok := w.token("robot", "")
	iss := w.partnerIssuer()
	status, _, body := w.call("POST", "/api/admin/v1/providers", tok, map[string]any{"id": "partner", "kind": "oidc", "name": "Partner",
		"oidc": map[string]any{"issuer": iss.URL(), "client_id": "gatehouse"}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(asJSON(body), "client_secret is missing") {
		t.Fatalf("%d %s", status, asJSON(body))
	}
	if _, err := w.DB.Providers().Get(t.Context(), "partner"); err == nil {
		t.Fatal("a provider that cannot sign anyone in was stored")
	}
	if n := len(w.events("provider.added")); n != 0 {
		t.Fatalf("%d provider.added events", n)
	}
	status, _, body = w.call("POST", "/api/admin/v1/providers", tok, map[string]any{"id": "partner", "kind": "oidc", "name": "Partner",
		"enabled": false, "oidc": map[string]any{"issuer": iss.URL(), "client_id": "gatehouse"}})
	if status != http.StatusCreated {
		t.Fatalf("disabled provider without a secret: %d %s", status, asJSON(body))
	}
}
