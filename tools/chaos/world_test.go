package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers/providertest"
)

// buildGatehouse builds the gatehouse command once, as deployed (no demo tag,
// no cgo), into dir.
func buildGatehouse(t *testing.T, dir string) string {
	t.Helper()
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(dir, "gatehouse")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/gatehouse")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/gatehouse: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func masterKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.StdEncoding.EncodeToString(b[:])
}

// replica is one `gatehouse serve` child process, killed and restarted by the
// harness.
type replica struct {
	n       int
	addr    string
	env     []string
	bin     string
	logPath string
	dbURL   func(start int) string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// start runs the replica and waits until it answers /healthz.
func (r *replica) start(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	log, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(r.bin, "serve")
	cmd.Env = append(slices.Clone(r.env), "GATEHOUSE_DATABASE_URL="+r.dbURL(r.starts))
	cmd.Dir = filepath.Dir(r.logPath)
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Start()
	log.Close()
	if err != nil {
		t.Fatalf("replica %d: %v", r.n, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r.cmd, r.exited = cmd, exited
	r.starts++
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get("http://" + r.addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("replica %d exited at start:\n%s", r.n, tail(r.logPath))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %d did not answer /healthz:\n%s", r.n, tail(r.logPath))
		}
	}
}

// kill is kill -9: no shutdown, no flush.
func (r *replica) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
	r.cmd = nil
}

// stop is an orderly shutdown (SIGTERM), which spills what the audit writer holds.
func (r *replica) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

// errorLines are the ERROR lines of a replica's log (at most 40).
func errorLines(path string) string {
	b, _ := os.ReadFile(path) // best effort, for a failure message
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) && len(out) < 40 {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func tail(path string) string {
	b, _ := os.ReadFile(path) // best effort, for a failure message
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// idpMode is what the upstream IdP does to the broker's calls.
type idpMode int32

const (
	idpNormal idpMode = iota
	// idpSlow delays every back-channel answer (discovery, JWKS, token,
	// UserInfo) by idpDelay.
	idpSlow
	// idpUnreachable drops every back-channel connection at once: the broker
	// cannot reach the IdP while people's browsers still can (a partition
	// between the two), so the failure shows at Gatehouse's callback.
	idpUnreachable
)

const idpDelay = 1500 * time.Millisecond

// upstream is the in-process OIDC IdP, with a switch the fault schedule turns.
type upstream struct {
	*providertest.OIDCIssuer
	mode atomic.Int32
}

func newUpstream(t *testing.T, users int) *upstream {
	var people []providertest.DemoUser
	for i := range users {
		people = append(people, providertest.DemoUser{Label: fmt.Sprint("user ", i), Claims: map[string]any{
			"sub": fmt.Sprint("user-", i), "email": userEmail(i), "email_verified": true, "name": fmt.Sprint("User ", i)}})
	}
	iss := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", ClientSecret: "idp-secret",
		Now: time.Now, AdvertiseIssParameter: true, Users: people})
	t.Cleanup(iss.Close)
	u := &upstream{OIDCIssuer: iss}
	next := iss.Server.Config.Handler
	// Set before any request reaches the server: the IdP has served none yet.
	iss.Server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/authorize" { // the back channel
			switch idpMode(u.mode.Load()) {
			case idpSlow:
				select {
				case <-time.After(idpDelay):
				case <-r.Context().Done():
					return
				}
			case idpUnreachable:
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						c.Close()
						return
					}
				}
			}
		}
		next.ServeHTTP(w, r)
	})
	return u
}

func userEmail(i int) string { return fmt.Sprintf("user-%d@corp.example", i) }

// world is everything the harness runs: PostgreSQL behind a proxy, the IdP,
// two replicas and the clients registered for the load.
type world struct {
	t        *testing.T
	dir      string
	bin      string
	db       *dbHandle // PostgreSQL's cluster and proxy (nil on SQLite)
	sql      *sql.DB   // the database, for the checks
	idp      *upstream
	issuer   string // the replicas' shared public URL; requests are routed to one
	replicas []*replica
	secrets  map[string]string // client ID -> secret
	// transports route requests for the issuer to one replica each.
	transports []*http.Transport
	timeout    time.Duration // GATEHOUSE_REQUEST_TIMEOUT
	maxConns   int           // GATEHOUSE_DB_MAX_CONNS

	t0     time.Time // the load's start, for times in messages
	mu     sync.Mutex
	killed []window // the kill -9 faults so far
}

const (
	appCB    = "https://app.example/cb"
	audience = "https://notes.example"
)

// newWorld registers the IdP and the clients through the CLI on direct and
// starts replicas replicas, replica n's start-th process on replicaURL(n, start).
func newWorld(t *testing.T, users, replicas int, direct string, replicaURL func(n, start int) string) *world {
	dir := t.TempDir()
	if os.Getenv("CHAOS_KEEP") != "" { // keep the replicas' logs and spill files
		var err error
		if dir, err = os.MkdirTemp("", "gatehouse-chaos-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("chaos: working directory %s (CHAOS_KEEP)", dir)
	}
	w := &world{t: t, dir: dir, bin: buildGatehouse(t, dir), idp: newUpstream(t, users),
		issuer: "http://" + freeAddr(t), secrets: map[string]string{}, timeout: 2 * time.Second, maxConns: 6}
	secretFile := filepath.Join(dir, "idp-secret")
	if err := os.WriteFile(secretFile, []byte("idp-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{
		"GATEHOUSE_MASTER_KEY=" + masterKey(),
		"GATEHOUSE_ISSUER=" + w.issuer,
		"GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS=127.0.0.1",
		"GATEHOUSE_LOG_LEVEL=warn",
		"GATEHOUSE_REQUEST_TIMEOUT=" + w.timeout.String(),
		fmt.Sprint("GATEHOUSE_DB_MAX_CONNS=", w.maxConns),
		// The load is bounded by the harness, not the rate limits.
		"GATEHOUSE_OAUTH_RATE_PER_CLIENT=1000000", "GATEHOUSE_OAUTH_RATE_PER_IP=1000000",
		// The harness stands for a load balancer in front of many people: each
		// sign-in comes from its own address (X-Forwarded-For), under the
		// per-address sign-in limits.
		"GATEHOUSE_TRUSTED_PROXIES=127.0.0.1/32",
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
	}
	cli := append(common, "GATEHOUSE_DATABASE_URL="+direct)
	run := func(args ...string) string {
		cmd := exec.Command(w.bin, args...)
		cmd.Env, cmd.Dir = cli, dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("gatehouse %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	run("migrate", "up")
	run("providers", "add-oidc", "--id", "corp", "--name", "Corp", "--oidc-issuer", w.idp.URL(), "--client-id", "gatehouse",
		"--client-secret-file", secretFile, "--domains", "corp.example")
	run("apis", "create", "--id", "notes", "--audience", audience, "--name", "Notes", "--scope", "notes.read")
	for _, args := range [][]string{
		{"--id", "web", "--name", "Web", "--redirect-uri", appCB, "--grant-type", "authorization_code",
			"--grant-type", "refresh_token", "--scope", "openid", "--scope", "offline_access", "--scope", "notes.read",
			"--default-api", audience},
		{"--id", "svc", "--name", "Service", "--grant-type", "client_credentials", "--scope", "notes.read",
			"--default-api", audience},
		{"--id", "rs", "--name", "Notes API", "--grant-type", "client_credentials", "--scope", "notes.read",
			"--default-api", audience, "--resource-server-for", audience},
	} {
		var c struct {
			ID     string `json:"id"`
			Secret string `json:"client_secret"`
		}
		if err := json.Unmarshal([]byte(run(append(append([]string{"clients", "create"}, args...), "--json")...)), &c); err != nil {
			t.Fatal(err)
		}
		w.secrets[c.ID] = c.Secret
	}
	issuerHost := strings.TrimPrefix(w.issuer, "http://")
	for n := range replicas {
		rdir := filepath.Join(dir, fmt.Sprint("replica", n))
		if err := os.Mkdir(rdir, 0o700); err != nil {
			t.Fatal(err)
		}
		r := &replica{n: n, addr: freeAddr(t), bin: w.bin, logPath: filepath.Join(rdir, "server.log"),
			dbURL: func(start int) string { return replicaURL(n, start) }}
		r.env = append(append([]string{}, common...),
			"GATEHOUSE_LISTEN_ADDR="+r.addr,
			"GATEHOUSE_AUDIT_SPILL_FILE="+filepath.Join(rdir, "audit.spill"))
		w.replicas = append(w.replicas, r)
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		w.transports = append(w.transports, &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if addr == issuerHost {
					addr = r.addr
				}
				return dialer.DialContext(ctx, network, addr)
			},
			MaxIdleConnsPerHost: 16,
		})
	}
	for _, r := range w.replicas {
		r.start(t)
		t.Cleanup(r.stop)
	}
	return w
}

// n is the number of replicas.
func (w *world) n() int { return len(w.replicas) }

// client is an HTTP client whose requests to the issuer go to replica n; jar may
// be nil. It follows no redirects.
func (w *world) client(n int, jar http.CookieJar) *http.Client {
	return &http.Client{Transport: w.transports[n], Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// form posts an OAuth request authenticated as client to replica n.
func (w *world) form(ctx context.Context, n int, path, client string, v url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.issuer+path, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, w.secrets[client])
	return req, nil
}
