package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"golang.org/x/net/netutil"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/mtls"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

// configFlags adds the configuration flags and --env-file to fs; the returned
// function loads the Config once fs is parsed.
func configFlags(fs *flag.FlagSet, env *environment) func() (*config.Config, error) {
	envFile := fs.String("env-file", ".env", "file of GATEHOUSE_…=value lines read before the environment; a missing file is fine")
	set := config.RegisterFlags(fs)
	return func() (*config.Config, error) {
		dot, err := config.ReadDotEnv(*envFile)
		if err != nil {
			return nil, err
		}
		return config.Load(config.Source{DotEnv: dot, Environ: env.lookupEnv, Flags: set()})
	}
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// parseCommand is every database subcommand's prelude: it parses the flags and
// positional arguments, shows the usage and returns wantArgs as the error when
// valid refuses the arguments, and loads the configuration.
func parseCommand(fs *flag.FlagSet, load func() (*config.Config, error), args []string,
	valid func(args []string) bool, wantArgs string) ([]string, *config.Config, error) {
	args, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if !valid(args) {
		fs.Usage()
		return nil, nil, errors.New(wantArgs)
	}
	cfg, err := load()
	if err != nil {
		return nil, nil, err
	}
	return args, cfg, nil
}

// noArgs and someArgs are the usual argument checks for parseCommand.
func noArgs(args []string) bool   { return len(args) == 0 }
func someArgs(args []string) bool { return len(args) > 0 }

// openDatabase opens the configured database and applies pending migrations, as
// every command that reads or writes it must.
func openDatabase(ctx context.Context, cfg *config.Config) (*sqlstore.DB, error) {
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	db.SetMaxConns(cfg.DBMaxConns)
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openKeys opens the database and the signing-key manager over it.
func openKeys(ctx context.Context, cfg *config.Config, log *slog.Logger) (*sqlstore.DB, *keys.Manager, error) {
	if err := cfg.RequireMasterKey(); err != nil {
		return nil, nil, err
	}
	ring, err := seal.NewKeyring(cfg.MasterKeys...)
	if err != nil {
		return nil, nil, err
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	km, err := keys.NewManager(db.SigningKeys(), ring, keys.Options{
		Algorithm:        cfg.SigningAlgorithm,
		PublishDelay:     cfg.KeyPublishDelay,
		MaxTokenLifetime: max(cfg.AccessTokenTTL, cfg.IDTokenTTL),
		Logger:           log,
	})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, km, nil
}

// gcPercent is the garbage collector's target (GOGC) when the environment sets none.
// Gatehouse's live heap is a few MiB, so at Go's default of 100 the collector runs
// after every ~4 MiB allocated: dozens of times a second under load, about 15% of
// the CPU of a token request. 400 runs it about a quarter as often for a larger
// peak heap (make load: 0.117 -> 0.099 ms per token request; peak RSS over the
// whole run about 40 -> 78 MiB, idle RSS unchanged).
const gcPercent = 400

// run serves Gatehouse until ctx ends, then shuts down gracefully: stop accepting,
// drain in-flight requests, flush the audit queue, close the database.
func run(ctx context.Context, env *environment, cfg *config.Config) error {
	if _, set := env.lookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	log := newLogger(cfg, env.stderr)
	var cert tls.Certificate
	if cfg.TLS() {
		var err error
		if cert, err = tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return fmt.Errorf("GATEHOUSE_TLS_CERT_FILE/GATEHOUSE_TLS_KEY_FILE: %w", err)
		}
	}
	db, km, err := openKeys(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := km.EnsureKey(ctx); err != nil {
		return err
	}
	// Events the database refuses are held, then spilled to this replica's own
	// file and replayed from it, here at start first (README: Audit durability).
	aw, err := audit.Open(db.Audit(), log, audit.Options{FlushInterval: cfg.AuditFlushInterval, SpillPath: cfg.AuditSpillPath()})
	if err != nil {
		return fmt.Errorf("GATEHOUSE_AUDIT_SPILL_FILE: %w", err)
	}
	opts := broker.Options{Config: cfg, Store: db, Keys: km, Audit: aw, Logger: log}
	ring, err := seal.NewKeyring(cfg.MasterKeys...)
	if err != nil {
		return err
	}
	uenv := upstream.Env{Issuer: cfg.Issuer, Keyring: ring, Networks: cfg.UpstreamAllowedNetworks}
	if env.prepare != nil {
		if err := env.prepare(ctx, db, uenv, &opts); err != nil {
			return err
		}
		uenv.HTTPClient = opts.HTTPClient
	}
	if err := loadProvidersFile(ctx, cfg.ProvidersFile, db, uenv, cfg.AccessTokenTTL, log); err != nil {
		return err
	}
	srv, err := broker.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("GATEHOUSE_LISTEN_ADDR: %w", err)
	}
	hs := newHTTPServer(srv, log)
	if cfg.TLS() {
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln = netutil.LimitListener(ln, cfg.MaxConnections)
	var ms *http.Server // the mTLS listener (RFC 8705 §5), when configured
	var mln net.Listener
	if cfg.MTLSListenAddr != "" {
		if mln, err = net.Listen("tcp", cfg.MTLSListenAddr); err != nil {
			ln.Close()
			return fmt.Errorf("GATEHOUSE_MTLS_LISTEN_ADDR: %w", err)
		}
		mln = netutil.LimitListener(mln, cfg.MaxConnections)
		ms = newHTTPServer(srv.MTLSHandler(), log)
		mcert := cert
		if env.mtlsCert != nil {
			mcert = *env.mtlsCert
		}
		ms.TLSConfig = mtls.ServerTLSConfig(mcert)
	}

	mctx, stopMaintenance := context.WithCancel(context.WithoutCancel(ctx))
	maintained := make(chan struct{})
	go func() { defer close(maintained); srv.Maintain(mctx, time.Minute) }()

	served := make(chan error, 2) // either listener may end the server
	go func() {
		if cfg.TLS() {
			served <- hs.ServeTLS(ln, "", "")
		} else {
			served <- hs.Serve(ln)
		}
	}()
	log.Info("gatehouse listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer.String(), "tls", cfg.TLS())
	if ms != nil {
		go func() {
			if err := ms.ServeTLS(mln, "", ""); !errors.Is(err, http.ErrServerClosed) {
				served <- fmt.Errorf("mTLS listener: %w", err)
			}
		}()
		log.Info("gatehouse mTLS listening", "addr", mln.Addr().String(), "aliases", cfg.MTLSBaseURL().String())
	}
	if env.ready != nil {
		env.ready(ln.Addr().String())
	}

	select {
	case err = <-served:
	case <-ctx.Done():
		log.Info("shutting down: draining requests")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if ms != nil {
			err = ms.Shutdown(sctx)
		}
		err = errors.Join(err, hs.Shutdown(sctx))
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		stopMaintenance()
		<-maintained
		err = errors.Join(err, aw.Close(sctx))
		log.Info("shut down")
		return err
	}
	if ms != nil {
		// One listener failed: the other stops with it.
		ms.Close()
		hs.Close()
	}
	stopMaintenance()
	<-maintained
	aw.Close(context.Background())
	return err
}

// newHTTPServer is the HTTP server of each listener.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler: h,
		// Slow clients cannot hold connections open (DOS-03, DOS-05).
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10, // DOS-01: larger headers get 431
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func cmdServe(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "serve", "serve [flags]",
		"Runs Gatehouse: applies pending database migrations, creates a signing key on first\nstart, and serves until SIGINT or SIGTERM, then drains in-flight requests.")
	load := configFlags(fs, env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if err := cfg.RequireMasterKey(); err != nil {
		return err
	}
	return run(ctx, env, cfg)
}
