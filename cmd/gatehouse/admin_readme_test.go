//go:build demo

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	crewjam "github.com/crewjam/saml"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/internal/testsupport"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// readmeAdminSetupMarker is the first line of README.md's admin API setup script.
const readmeAdminSetupMarker = "# admin-api-setup:"

// TestReadmeAdminAPISetupScript runs README.md's admin API setup script as
// written, with bash, against `gatehouse serve` on an empty database (issue 12:
// "the same setup runs as a script against the admin API"), with an in-process
// OIDC issuer and crewjam SAML IdP named by the variables the script reads and
// the test binary as the `gatehouse` command. Then, without a restart, a person
// of each IdP signs in to the app the script made (authorization code with PKCE,
// RFC 7636; the app's secret from the script) and gets a token for its API.
func TestReadmeAdminAPISetupScript(t *testing.T) {
	testsupport.RequireTools(t, "bash", "curl", "jq")
	script := readmeBlock(t, readmeAdminSetupMarker)
	work := t.TempDir()
	addr := freeAddr(t)
	issuer := "http://" + addr
	const appRedirect = "https://notes.example.com/callback"

	oidcIdP := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse-at-corp", ClientSecret: "corp-s3cret",
		Now: time.Now, AdvertiseIssParameter: true, Claims: map[string]any{"sub": "alice-corp", "email": "alice@corp.example",
			"email_verified": true, "name": "Alice Corp"}})
	t.Cleanup(oidcIdP.Close)
	key, cert := providertest.NewKeyPair("partner idp", time.Now())
	samlIdP := providertest.NewSAMLIdP(time.Now, key, cert, crewjam.Session{ID: "partner-sess", Index: "1",
		NameID: "carol@partner.example", NameIDFormat: string(crewjam.EmailAddressNameIDFormat),
		UserEmail: "carol@partner.example", UserCommonName: "Carol Partner"})
	t.Cleanup(samlIdP.Close)

	server := map[string]string{
		"GATEHOUSE_DATABASE_URL":              "sqlite:" + filepath.Join(work, "gatehouse.db"),
		"GATEHOUSE_MASTER_KEY":                masterKeyA,
		"GATEHOUSE_ISSUER":                    issuer,
		"GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS": "127.0.0.1",
	}
	g := start(t, withVar(server, "GATEHOUSE_LISTEN_ADDR", addr), "serve")

	// The script's `gatehouse` is this test binary (TestMain), with the
	// server's settings in its environment, as on the server.
	bin := filepath.Join(work, "bin")
	self, err := os.Executable()
	brokertest.Must(t, err)
	brokertest.Must(t, os.MkdirAll(bin, 0o700))
	brokertest.Must(t, os.WriteFile(filepath.Join(bin, "gatehouse"),
		[]byte("#!/bin/sh\n"+runAsGatehouse+"=1 exec '"+self+"' \"$@\"\n"), 0o700))
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + work,
		"ISSUER=" + issuer, "OIDC_ISSUER=" + oidcIdP.URL(), "OIDC_CLIENT_ID=gatehouse-at-corp",
		"OIDC_CLIENT_SECRET=corp-s3cret", "SAML_METADATA_URL=" + samlIdP.Server.URL + "/metadata",
		"APP_REDIRECT_URI=" + appRedirect}
	for k, v := range server {
		env = append(env, k+"="+v)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// -e and pipefail: a step that fails stops the script here, with its error.
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-s")
	cmd.Dir, cmd.Stdin, cmd.Env = work, strings.NewReader(script), env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("README script: %v\nstdout:\n%s\nstderr:\n%s\nserver:\n%s", err, stdout.String(), stderr.String(), g.stderr)
	}
	var out []any
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var v any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("a line that is not JSON: %q\nstdout:\n%s", line, stdout.String())
		}
		out = append(out, v)
	}
	if len(out) != 8 {
		t.Fatalf("%d lines printed, want 8:\n%s", len(out), stdout.String())
	}
	obj := func(i int) map[string]any { m, _ := out[i].(map[string]any); return m }
	for _, tc := range []struct {
		step string
		got  any
		want any
	}{
		{"discovery", obj(0)["issuer"], oidcIdP.URL()},
		{"discovery PKCE", obj(0)["pkce_s256"], true},
		{"OIDC provider", obj(1), map[string]any{"id": "corp", "kind": "oidc", "enabled": true, "client_secret_set": true}},
		{"SAML provider", []any{obj(2)["id"], obj(2)["kind"], obj(2)["enabled"], obj(2)["sp_metadata_url"]},
			[]any{"partner", "saml", true, issuer + "/saml/partner/metadata"}},
		{"API", obj(3), map[string]any{"id": "notes", "audience": "https://notes.example.com",
			"scopes": []any{"notes.read", "notes.write"}, "version": 1.0}},
		{"app", obj(4), map[string]any{"id": "notes-web", "grant_types": []any{"authorization_code", "refresh_token"},
			"client_secret_set": true}},
		{"providers", out[5], []any{map[string]any{"id": "corp", "kind": "oidc", "enabled": true},
			map[string]any{"id": "partner", "kind": "saml", "enabled": true}}},
		{"APIs", out[6], []any{"gatehouse-admin", "notes"}},
		{"clients", out[7], []any{"notes-web", "provisioner"}},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.step, tc.got, tc.want)
		}
	}
	appEnv := readEnvFile(t, filepath.Join(work, "notes-web.env"))
	if appEnv["CLIENT_ID"] != "notes-web" || appEnv["CLIENT_SECRET"] == "" {
		t.Fatalf("notes-web.env: %v", appEnv)
	}
	if st, err := os.Stat(filepath.Join(work, "notes-web.env")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("notes-web.env mode: %v %v, want 0600", st, err)
	}
	if strings.Contains(stdout.String(), appEnv["CLIENT_SECRET"]) || strings.Contains(g.stderr.String(), appEnv["CLIENT_SECRET"]) {
		t.Error("the app's secret was printed or logged (ADM-12)")
	}

	// What the script said to give the SAML IdP: Gatehouse's SP metadata.
	_, md := get(t, obj(2)["sp_metadata_url"].(string))
	brokertest.Must(t, samlIdP.AddSP([]byte(md)))

	app := oauth2.Config{ClientID: appEnv["CLIENT_ID"], ClientSecret: appEnv["CLIENT_SECRET"], RedirectURL: appRedirect,
		Scopes: []string{oidc.ScopeOpenID, "email", "notes.read"}}
	provider, err := oidc.NewProvider(ctx, issuer)
	brokertest.Must(t, err)
	app.Endpoint = provider.Endpoint()
	db, err := sqlstore.Open(ctx, server["GATEHOUSE_DATABASE_URL"])
	brokertest.Must(t, err)
	defer db.Close()
	// ADM-16: each change the script made through the API names its client.
	for action, target := range map[string]string{"provider.added": "corp", "api.created": "notes", "client.created": "notes-web"} {
		evs, err := db.Audit().List(ctx, store.AuditFilter{Action: action, Target: target})
		if err != nil || len(evs) != 1 || evs[0].Actor != "client:provisioner" || !strings.Contains(string(evs[0].Details), `"via":"api"`) {
			t.Errorf("%s %s: %+v %v, want one by client:provisioner via the API", action, target, evs, err)
		}
	}
	for _, person := range []struct{ email, idp, subject string }{
		{"alice@corp.example", "corp", "alice-corp"}, {"carol@partner.example", "partner", "carol@partner.example"},
	} {
		t.Run(person.idp, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			code := appSignIn(t, app.AuthCodeURL("st-"+person.idp, oauth2.S256ChallengeOption(verifier)), appRedirect, person.email)
			tok, err := app.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("code exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := provider.Verifier(&oidc.Config{ClientID: app.ClientID}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("ID token: %v", err)
			}
			ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil || ui.Email != person.email || ui.Subject != idt.Subject {
				t.Errorf("UserInfo: %+v %v, want %s", ui, err, person.email)
			}
			// The person's account is linked to the new provider's identity.
			if u, err := db.Identities().UserOf(ctx, person.idp, person.subject); err != nil || u.ID != idt.Subject {
				t.Errorf("the user of %s/%s: %+v %v, want %s", person.idp, person.subject, u, err, idt.Subject)
			}
			// RFC 7662: the app introspects its access token, with its secret.
			status, body := postForm(t, issuer+"/oauth2/introspect", app.ClientID, app.ClientSecret,
				url.Values{"token": {tok.AccessToken}}.Encode())
			var at map[string]any
			_ = json.Unmarshal([]byte(body), &at)
			if status != 200 || at["active"] != true || !slices.Contains(asList(at["aud"]), any("https://notes.example.com")) ||
				!strings.Contains(at["scope"].(string), "notes.read") || at["sub"] != idt.Subject {
				t.Errorf("introspection: %d %s", status, body)
			}
		})
	}
}

// withVar is vars with k set to v.
func withVar(vars map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for kk, vv := range vars {
		if kk != k {
			out[kk] = vv
		}
	}
	return out
}

// asList is a JSON array, or a single value as a list of one (RFC 7519 §4.1.3 aud).
func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// readEnvFile reads KEY=value lines.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	brokertest.Must(t, err)
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		out[k] = v
	}
	return out
}

// appSignIn is a person's browser from the app's authorization request to its
// redirect URI: Gatehouse's login page (the email, for home-realm discovery),
// the IdP (redirects, the SAML POST binding both ways), the consent page
// (approve). It returns the code the app receives.
func appSignIn(t *testing.T, authURL, redirect, email string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, target string, form url.Values) *http.Response {
		req, _ := http.NewRequest(method, target, nil)
		if form != nil {
			req, _ = http.NewRequest(method, target, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if u, _ := url.Parse(target); u != nil {
				req.Header.Set("Origin", u.Scheme+"://"+u.Host)
			}
		}
		res, err := c.Do(req)
		brokertest.Must(t, err)
		return res
	}
	res := do(http.MethodGet, authURL, nil)
	for range 30 {
		if loc := res.Header.Get("Location"); loc != "" {
			res.Body.Close()
			u, err := res.Request.URL.Parse(loc)
			brokertest.Must(t, err)
			if strings.HasPrefix(u.String(), redirect) {
				if u.Query().Get("code") == "" {
					t.Fatalf("back at the app without a code: %s", u)
				}
				return u.Query().Get("code")
			}
			res = do(http.MethodGet, u.String(), nil)
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page := string(b)
		var action string
		var fields url.Values
		switch {
		case strings.Contains(page, `data-testid="login-form"`):
			action, fields = "/login", brokertest.FormFields(t, page, "/login")
			fields.Set("email", email)
		case strings.Contains(page, `data-testid="consent-form"`):
			action, fields = "/oauth2/consent", brokertest.FormFields(t, page, "/oauth2/consent")
			fields.Set("decision", "approve")
		default:
			var ok bool
			if action, fields, ok = brokertest.AutoPostForm(page); !ok {
				t.Fatalf("stuck at %s: %d\n%s", res.Request.URL, res.StatusCode, page)
			}
		}
		target, _ := res.Request.URL.Parse(action)
		res = do(http.MethodPost, target.String(), fields)
	}
	t.Fatal("too many hops")
	return ""
}
