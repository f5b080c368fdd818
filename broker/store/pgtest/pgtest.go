// Package pgtest gives tests a fresh, empty PostgreSQL database. A throwaway cluster
// is started once per test binary (initdb into a temp dir, listening only on a unix
// socket there) unless GATEHOUSE_TEST_DATABASE_URL names a server to use instead.
//
// A test package that uses URL must call Main from its TestMain, which stops the
// cluster after the tests:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvURL names an existing server to create the test databases on.
const EnvURL = "GATEHOUSE_TEST_DATABASE_URL"

var (
	mainCalled bool
	once       sync.Once
	srv        *server
	// unavailable says why no PostgreSQL can be used (skip, or fail in CI);
	// startErr is a failure to start one that is installed.
	unavailable string
	startErr    error
)

// server is where test databases are created.
type server struct {
	admin *sql.DB  // connected to the maintenance database
	base  *url.URL // URL of the server; Path is replaced per database
	// ownCluster: the server is ours and removed whole, so databases need not be
	// dropped one by one.
	ownCluster bool
	stop       func()
}

// Main runs the tests and then stops the cluster, if one was started.
func Main(m *testing.M) {
	mainCalled = true
	code := m.Run()
	if srv != nil {
		srv.stop()
	}
	os.Exit(code)
}

// URL returns the URL of a new empty database, dropped or discarded after the tests.
// Without PostgreSQL it skips the test, unless CI=true, where it fails it.
func URL(tb testing.TB) string {
	tb.Helper()
	if !mainCalled {
		tb.Fatal("pgtest: call pgtest.Main(m) from TestMain so the cluster is stopped after the tests")
	}
	once.Do(start)
	switch {
	case unavailable != "" && os.Getenv("CI") == "true":
		tb.Fatalf("pgtest: PostgreSQL is required in CI: %s", unavailable)
	case unavailable != "":
		tb.Skipf("pgtest: skipping, no PostgreSQL: %s (set %s or install PostgreSQL)", unavailable, EnvURL)
	case startErr != nil:
		tb.Fatalf("pgtest: %v", startErr)
	}

	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	name := "gatehouse_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := srv.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	if !srv.ownCluster {
		tb.Cleanup(func() {
			if _, err := srv.admin.ExecContext(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
				tb.Errorf("pgtest: drop database: %v", err)
			}
		})
	}
	u := *srv.base
	u.Path = "/" + name
	return u.String()
}

func start() {
	if env := os.Getenv(EnvURL); env != "" {
		srv, startErr = connect(env)
		return
	}
	bin, err := findBinaries()
	if err != nil {
		unavailable = err.Error()
		return
	}
	cred, err := credential()
	if err != nil {
		unavailable = err.Error()
		return
	}
	srv, startErr = startCluster(bin, cred)
}

// connect uses an existing server.
func connect(rawURL string) (*server, error) {
	base, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	admin, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	if err := admin.Ping(); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvURL, err)
	}
	return &server{admin: admin, base: base, stop: func() { _ = admin.Close() }}, nil
}

// findBinaries returns the directory holding initdb and postgres: the one on PATH,
// or else the newest /usr/lib/postgresql/*/bin (Debian does not put them on PATH).
func findBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin") // the pattern is valid
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "initdb"))
		return err != nil
	})
	if len(dirs) == 0 {
		return "", errors.New("initdb not found on PATH nor in /usr/lib/postgresql/*/bin")
	}
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d))) // not a number sorts first
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(a) - version(b) })
	return dirs[len(dirs)-1], nil
}

// credential returns whom to run initdb and postgres as: nil (ourselves) unless we
// are root, which both refuse; then the "postgres" system user, or "nobody".
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 == nil && err2 == nil {
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
		}
	}
	return nil, errors.New("running as root and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

// startCluster runs initdb and postgres in a new temp dir owned by cred.
func startCluster(bin string, cred *syscall.Credential) (*server, error) {
	c, err := newCluster(bin, cred, false)
	if err != nil {
		return nil, err
	}
	return &server{admin: c.admin, base: c.base, ownCluster: true, stop: c.remove}, nil
}

// Cluster is a PostgreSQL server of a test's own, which it may stop and start
// again: the fault harness (tools/chaos) stops it as `pg_ctl stop -m immediate`
// would, under load, and starts it on the same data.
type Cluster struct {
	bin, dir, data, sock, logPath string
	cred                          *syscall.Credential
	// durable: a commit is acknowledged once in the WAL (synchronous_commit=on),
	// so that Stop, a crash of PostgreSQL, loses nothing acknowledged.
	durable bool
	admin   *sql.DB  // the maintenance database
	base    *url.URL // Path is replaced per database

	mu     sync.Mutex
	pg     *exec.Cmd     // nil while stopped
	exited chan struct{} // closed when pg has exited
}

// NewCluster starts a cluster for this test alone, removed when it ends, durable
// against Stop (a commit is acknowledged once in the WAL, as PostgreSQL's default
// synchronous_commit=on: the shared cluster turns that off for speed). Without
// PostgreSQL it skips the test, unless CI=true, where it fails it (as URL).
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin, err := findBinaries()
	var cred *syscall.Credential
	if err == nil {
		cred, err = credential()
	}
	switch {
	case err != nil && os.Getenv("CI") == "true":
		tb.Fatalf("pgtest: PostgreSQL is required in CI: %v", err)
	case err != nil:
		tb.Skipf("pgtest: skipping, no PostgreSQL: %v", err)
	}
	c, err := newCluster(bin, cred, true)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(c.remove)
	return c
}

func newCluster(bin string, cred *syscall.Credential, durable bool) (_ *Cluster, err error) {
	dir, err := os.MkdirTemp("", "gatehouse-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, dir: dir, cred: cred, durable: durable, data: filepath.Join(dir, "data"), sock: filepath.Join(dir, "sock"),
		logPath: filepath.Join(dir, "postgres.log")}
	defer func() {
		if err != nil {
			c.remove() // the start error is the one to report
		}
	}()
	for _, d := range []string{c.data, c.sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	logFile, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	logFile.Close()
	if cred != nil {
		for _, p := range []string{dir, c.data, c.sock, c.logPath} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, err
			}
		}
	}
	initdb, err := c.command("initdb", "--pgdata", c.data, "--username", "postgres", "--auth", "trust",
		"--encoding", "UTF8", "--no-locale", "--no-sync")
	if err != nil {
		return nil, err
	}
	if err := initdb.Run(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, readLog(c.logPath))
	}
	c.base = &url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres",
		RawQuery: url.Values{"host": {c.sock}, "sslmode": {"disable"}}.Encode()}
	if c.admin, err = sql.Open("pgx", c.base.String()); err != nil {
		return nil, err
	}
	return c, c.Start()
}

// command is name from the PostgreSQL binaries, run as cred in the cluster's dir
// with its output appended to the cluster's log.
func (c *Cluster) command(name string, args ...string) (*exec.Cmd, error) {
	logFile, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile // the child holds its own copy
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd, nil
}

// Start starts postgres on the cluster's data (after Stop, the same databases)
// and returns once it accepts connections.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pg != nil {
		return nil
	}
	// Only a unix socket in our own dir: nothing else on the machine can reach it,
	// and there is no port to collide with. Durability against a crash of the
	// machine is of no use to a test (fsync, full_page_writes); against a crash
	// of PostgreSQL only when durable.
	syncCommit := "synchronous_commit=off"
	if c.durable {
		syncCommit = "synchronous_commit=on"
	}
	pg, err := c.command("postgres", "-D", c.data, "-k", c.sock, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", syncCommit, "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	if err != nil {
		return err
	}
	err = pg.Start()
	pg.Stdout.(*os.File).Close()
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = pg.Wait(); close(exited) }() // exit status is in the log
	c.pg, c.exited = pg, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		err = c.admin.Ping()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			c.pg = nil
			return fmt.Errorf("postgres exited:\n%s", readLog(c.logPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections: %w\n%s", err, readLog(c.logPath))
		}
	}
}

// Stop stops postgres the way `pg_ctl stop -m immediate` does (SIGQUIT: every
// process exits at once, without a checkpoint; the next Start recovers from the
// WAL), and returns once it has exited.
func (c *Cluster) Stop() { c.stop(syscall.SIGQUIT) }

func (c *Cluster) stop(sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pg == nil {
		return
	}
	_ = c.pg.Process.Signal(sig)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.pg.Process.Kill()
		<-c.exited
	}
	c.pg = nil
}

// URL returns the URL of a new empty database on the cluster.
func (c *Cluster) URL(tb testing.TB) string {
	tb.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	name := "gatehouse_test_" + hex.EncodeToString(b[:])
	if _, err := c.admin.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	u := *c.base
	u.Path = "/" + name
	return u.String()
}

// Admin is a connection pool to the cluster's maintenance database, for
// questions about the server itself (pg_stat_activity).
func (c *Cluster) Admin() *sql.DB { return c.admin }

// remove stops postgres (SIGINT is its fast shutdown: disconnect clients and
// exit) and deletes the cluster.
func (c *Cluster) remove() {
	if c.admin != nil {
		_ = c.admin.Close()
	}
	c.stop(syscall.SIGINT)
	_ = os.RemoveAll(c.dir)
}

func readLog(path string) string {
	b, _ := os.ReadFile(path) // best effort, for an error message
	return strings.TrimSpace(string(b))
}
