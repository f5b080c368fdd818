//go:build demo

// Built with the demo tag, as `make test` runs, for the helpers it shares with
// the demo's tests (freeAddr, postForm, clientCredentials).

package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// backupWorld is `gatehouse serve` on SQLite with an in-process OIDC IdP (corp,
// alice), an API, a web app (authorization code and refresh tokens) and a
// service (client_credentials), all registered with the CLI.
type backupWorld struct {
	vars    map[string]string
	issuer  string
	idp     *providertest.OIDCIssuer
	secrets map[string]string
}

const backupAppCB = "https://app.example/cb"

func newBackupWorld(t *testing.T) *backupWorld {
	t.Helper()
	idp := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: "idp-secret", Now: time.Now,
		AdvertiseIssParameter: true, Claims: map[string]any{"sub": "alice", "email": "alice@corp.example", "email_verified": true, "name": "Alice"}})
	t.Cleanup(idp.Close)
	addr := freeAddr(t)
	w := &backupWorld{vars: baseVars(t), issuer: "http://" + addr, idp: idp, secrets: map[string]string{}}
	w.vars["GATEHOUSE_LISTEN_ADDR"] = addr
	w.vars["GATEHOUSE_ISSUER"] = w.issuer
	w.vars["GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS"] = "127.0.0.1"
	secretFile := filepath.Join(t.TempDir(), "idp-secret")
	if err := os.WriteFile(secretFile, []byte("idp-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.run(t, "providers", "add-oidc", "--id", "corp", "--name", "Corp", "--oidc-issuer", idp.URL(), "--client-id", "gatehouse",
		"--client-secret-file", secretFile, "--domains", "corp.example")
	w.run(t, "apis", "create", "--id", "notes", "--audience", "https://notes.example", "--name", "Notes", "--scope", "notes.read")
	for _, args := range [][]string{
		{"--id", "web", "--name", "Web", "--redirect-uri", backupAppCB, "--grant-type", "authorization_code",
			"--grant-type", "refresh_token", "--scope", "openid", "--scope", "offline_access", "--scope", "notes.read",
			"--default-api", "https://notes.example"},
		{"--id", "svc", "--name", "Service", "--grant-type", "client_credentials", "--scope", "notes.read",
			"--default-api", "https://notes.example"},
	} {
		var c struct {
			ID     string `json:"client_id"`
			Secret string `json:"client_secret"`
		}
		if err := json.Unmarshal([]byte(w.run(t, append(append([]string{"clients", "create"}, args...), "--json")...)), &c); err != nil {
			t.Fatal(err)
		}
		w.secrets[c.ID] = c.Secret
	}
	return w
}

func (w *backupWorld) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCommand(t, w.vars, args...)
	if err != nil {
		t.Fatalf("gatehouse %v: %v\n%s", args, err, out)
	}
	return out
}

// signIn runs alice's authorization-code flow for web like a browser (login page,
// the IdP, consent) and redeems the code: the access and refresh tokens.
func (w *backupWorld) signIn(t *testing.T) (at, rt string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := brokertest.NewAuthzReq("web", backupAppCB, "openid offline_access notes.read")
	res, err := c.Get(w.issuer + q.URL())
	for hop := 0; ; hop++ {
		if err != nil || hop == 20 {
			t.Fatalf("sign-in, hop %d: %v", hop, err)
		}
		if loc := res.Header.Get("Location"); loc != "" {
			res.Body.Close()
			u, _ := res.Request.URL.Parse(loc)
			if strings.HasPrefix(u.String(), backupAppCB) {
				code := u.Query().Get("code")
				status, body := postForm(t, w.issuer+"/oauth2/token", "web", w.secrets["web"], url.Values{"grant_type": {"authorization_code"},
					"code": {code}, "code_verifier": {q.Verifier}, "redirect_uri": {backupAppCB}}.Encode())
				var tok struct{ AccessToken, RefreshToken string }
				if err := json.Unmarshal([]byte(body), &struct {
					AT *string `json:"access_token"`
					RT *string `json:"refresh_token"`
				}{&tok.AccessToken, &tok.RefreshToken}); err != nil || status != 200 || tok.RefreshToken == "" {
					t.Fatalf("redeem: %d %s", status, body)
				}
				return tok.AccessToken, tok.RefreshToken
			}
			res, err = c.Get(u.String())
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page := string(b)
		var action, field, value string
		switch {
		case strings.Contains(page, `data-testid="login-form"`):
			action, field, value = "/login", "email", "alice@corp.example"
		case strings.Contains(page, `data-testid="consent-form"`):
			action, field, value = "/oauth2/consent", "decision", "approve"
		default:
			t.Fatalf("sign-in stopped at %s: %d\n%.2000s", res.Request.URL, res.StatusCode, page)
		}
		f := brokertest.FormFields(t, page, action)
		f.Set(field, value)
		req, _ := http.NewRequest(http.MethodPost, w.issuer+action, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", w.issuer)
		res, err = c.Do(req)
	}
}

// active asks introspection (RFC 7662) as web, the client the tokens were issued to.
func (w *backupWorld) active(t *testing.T, tok string) bool {
	t.Helper()
	status, body := postForm(t, w.issuer+"/oauth2/introspect", "web", w.secrets["web"], url.Values{"token": {tok}}.Encode())
	var out struct{ Active bool }
	if err := json.Unmarshal([]byte(body), &out); err != nil || status != 200 {
		t.Fatalf("introspect: %d %s", status, body)
	}
	return out.Active
}

func (w *backupWorld) userinfo(t *testing.T, at string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.issuer+"/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func (w *backupWorld) refresh(t *testing.T, rt string) (int, string) {
	t.Helper()
	return postForm(t, w.issuer+"/oauth2/token", "web", w.secrets["web"], url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode())
}

// TestDATA12_BackupRestoreWatermark is the README's "Backups and restore" for
// SQLite, end to end: `gatehouse backup` while serve answers requests; alice's
// tokens issued before the backup are revoked after it; the restore (stop, copy
// the backup back, `gatehouse watermark`, start) does not bring them back:
// everything issued before the watermark is refused — the revoked access token
// is inactive at introspection and refused at UserInfo, refresh tokens from
// before the backup and from between backup and restore are invalid_grant —
// while new tokens are issued as usual.
func TestDATA12_BackupRestoreWatermark(t *testing.T) {
	w := newBackupWorld(t)
	g := start(t, w.vars, "serve")
	at1, rt1 := w.signIn(t)
	if !w.active(t, at1) || w.userinfo(t, at1) != 200 {
		t.Fatal("alice's new access token does not work")
	}

	// The backup, while client_credentials and introspection requests run.
	var (
		wg     sync.WaitGroup
		stop   = make(chan struct{})
		mu     sync.Mutex
		failed []string
		served int
	)
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, w.issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("svc", w.secrets["svc"])
				res, err := http.DefaultClient.Do(req)
				mu.Lock()
				if err != nil {
					failed = append(failed, err.Error())
				} else {
					res.Body.Close()
					if res.StatusCode != 200 {
						failed = append(failed, res.Status)
					}
					served++
				}
				mu.Unlock()
			}
		})
	}
	backup := filepath.Join(t.TempDir(), "gatehouse-backup.db")
	out := w.run(t, "backup", backup)
	if !strings.Contains(out, "Backed up the database to "+backup) {
		t.Errorf("backup output: %s", out)
	}
	close(stop)
	wg.Wait()
	if len(failed) != 0 || served == 0 {
		t.Fatalf("requests during the backup: %d served, failures %v", served, failed)
	}
	if st, err := os.Stat(backup); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", st, err)
	}
	if out, err := runCommand(t, w.vars, "backup", backup); err == nil {
		t.Errorf("a second backup overwrote the first:\n%s", out)
	}

	// After the backup: alice's tokens are revoked (RFC 7009: revoking the
	// refresh token revokes its grant's access tokens), and the app rotates
	// another refresh token.
	if status, body := postForm(t, w.issuer+"/oauth2/revoke", "web", w.secrets["web"], url.Values{"token": {rt1}}.Encode()); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if w.active(t, at1) || w.userinfo(t, at1) != 401 {
		t.Fatal("revocation did not take")
	}
	_, rt2 := w.signIn(t)
	status, body := w.refresh(t, rt2)
	if status != 200 {
		t.Fatalf("refresh after the backup: %d %s", status, body)
	}
	var rotated struct {
		RT string `json:"refresh_token"`
	}
	json.Unmarshal([]byte(body), &rotated)

	// The restore, as the README says: stop, replace the database and its WAL
	// files with the backup.
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	restore := func() {
		t.Helper()
		db := strings.TrimPrefix(w.vars["GATEHOUSE_DATABASE_URL"], "sqlite:")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(db + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(backup)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(db, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Without the watermark the restored database brings the revoked tokens back:
	// the reason for the step.
	restore()
	g = start(t, w.vars, "serve")
	if !w.active(t, at1) {
		t.Fatal("the restored database does not resurrect the revoked token; this test proves nothing")
	}
	g.stop()

	restore()
	out = w.run(t, "watermark")
	if !strings.Contains(out, "1 refresh token(s), 1 session(s)") {
		t.Errorf("watermark: %s", out)
	}
	g = start(t, w.vars, "serve")
	defer g.stop()
	if w.active(t, at1) {
		t.Error("the access token revoked after the backup is active again")
	}
	if code := w.userinfo(t, at1); code != 401 {
		t.Errorf("UserInfo with the revoked access token: %d", code)
	}
	for name, rt := range map[string]string{"from before the backup": rt1, "issued after the backup": rt2, "rotated after the backup": rotated.RT} {
		if status, body := w.refresh(t, rt); status != 400 || !strings.Contains(body, `"invalid_grant"`) {
			t.Errorf("refresh token %s: %d %s", name, status, body)
		}
	}

	// Service resumes: what is issued after the watermark works. Access tokens
	// carry their issue time in whole seconds (RFC 7519 §4.1.6), so wait for the
	// watermark's second to pass.
	for wm := time.Now().Unix(); time.Now().Unix() <= wm; {
		time.Sleep(50 * time.Millisecond)
	}
	at3, rt3 := w.signIn(t)
	if !w.active(t, at3) || w.userinfo(t, at3) != 200 {
		t.Error("a new sign-in's access token is refused")
	}
	if status, body := w.refresh(t, rt3); status != 200 {
		t.Errorf("a new refresh token is refused: %d %s", status, body)
	}
	if status, body := clientCredentials(t, w.issuer, "svc", w.secrets["svc"]); status != 200 {
		t.Errorf("client_credentials after the restore: %d %s", status, body)
	}
}

// TestBackupCommandPostgres: for PostgreSQL, backup names pg_dump and fails
// without connecting or writing a file.
func TestBackupCommandPostgres(t *testing.T) {
	vars := baseVars(t)
	vars["GATEHOUSE_DATABASE_URL"] = "postgres://gatehouse@db.invalid/gatehouse"
	file := filepath.Join(t.TempDir(), "backup.db")
	out, err := runCommand(t, vars, "backup", file)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup of PostgreSQL: %v\n%s", err, out)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file was written: %v", err)
	}
}
