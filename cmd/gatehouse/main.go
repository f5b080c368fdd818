// Command gatehouse runs the Gatehouse identity broker and its administrative tasks.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse/gatehouse/broker"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

// command is one subcommand: its one-line summary and what it runs.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment is what a subcommand may touch of the outside world, so tests can run
// commands in-process.
type environment struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	// ready, if set, is called with the listening address once serve accepts requests.
	ready func(addr string)
	// prepare, if set, runs after the database is open and before the server
	// starts: the demo registers its identity providers there and relaxes the
	// upstream client for its loopback IdPs.
	prepare func(ctx context.Context, db *sqlstore.DB, uenv upstream.Env, o *broker.Options) error
	// mtlsCert, if set, is the mTLS listener's certificate when Gatehouse does not
	// terminate TLS on its main listener: the demo's, whose issuer is plain http.
	mtlsCert *tls.Certificate
}

func commands() []command {
	return []command{
		{"serve", "Run Gatehouse (migrates the database first)", cmdServe},
		{"demo", "Run Gatehouse with a local demo setup: no configuration needed", cmdDemo},
		{"demo-cli", "Sign in to the running demo as a device without a browser (RFC 8628)", cmdDemoCLI},
		{"migrate", "Apply database migrations (up) or show them (status)", cmdMigrate},
		{"keys", "List or rotate token-signing keys", cmdKeys},
		{"reseal", "Re-encrypt every secret at rest under the newest master key", cmdReseal},
		{"backup", "Write a consistent copy of the SQLite database to a file while serving", cmdBackup},
		{"watermark", "After restoring a backup: revoke every token and session issued before a time", cmdWatermark},
		{"clients", "Manage OAuth clients (create, list, show, update, delete, rotate-secret)", cmdClients},
		{"apis", "Manage APIs (resource servers) and their scopes", cmdAPIs},
		{"providers", "Add, list, show, enable, disable or remove identity providers", cmdProviders},
		{"users", "List, show, disable, enable or sign out users; grant or revoke roles", cmdUsers},
		{"admin", "Print the first admin's one-time bootstrap link", cmdAdmin},
		{"version", "Print the version", cmdVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &environment{stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv}
	err := dispatch(ctx, env, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, env *environment, args []string) error {
	if len(args) >= 2 && args[0] == "help" {
		// gatehouse help settings; gatehouse help <command> is <command> --help.
		if args[1] == "settings" {
			printSettings(env.stdout)
			return nil
		}
		args = []string{args[1], "--help"}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stdout)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	usage(env.stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Gatehouse: a federated identity broker.\n\nUsage: gatehouse <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'gatehouse <command> --help' (or 'gatehouse help <command>') for a command's flags and\n"+
		"examples, and 'gatehouse help settings' for the server settings: environment variables\n"+
		"(GATEHOUSE_…), lines of a .env file, or flags.")
}

// printSettings is 'gatehouse help settings': every server setting, with its
// flag and default, in the order of .env.example.
func printSettings(w io.Writer) {
	fmt.Fprintln(w, "Server settings. Each is an environment variable, a line of the .env file (--env-file,\n"+
		"default ./.env) or, secrets excepted, a flag of every command that opens the database.")
	for _, s := range config.Settings {
		flagName := "--" + s.Flag()
		if s.Secret {
			flagName = "(no flag: a secret)"
		}
		def := s.Default
		if def == "" {
			def = "none"
		}
		fmt.Fprintf(w, "\n  %s   %s   default: %s\n      %s\n", s.Env, flagName, def, s.Help)
	}
}

// newFlagSet returns a flag set whose --help prints the command's usage and
// examples (in about), then its own flags. The server settings every
// database command also takes are listed only under serve --help and
// 'gatehouse help settings', so a command's own flags are not lost among them.
func newFlagSet(env *environment, name, usageLine, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: gatehouse %s\n\n%s\n\nFlags:\n", usageLine, about)
		if name == "serve" {
			fs.PrintDefaults()
			return
		}
		settings := false
		printFlags(env.stderr, fs, func(f string) bool {
			if isSettingFlag(f) {
				settings = true
				return false
			}
			return true
		})
		if settings {
			fmt.Fprintln(env.stderr, "\nThe server settings (--database-url, --upstream-allowed-networks, … and --env-file)\n"+
				"apply too: 'gatehouse help settings' lists them.")
		}
	}
	return fs
}

// isSettingFlag reports whether name is a server setting's flag or --env-file.
func isSettingFlag(name string) bool {
	if name == "env-file" {
		return true
	}
	for _, s := range config.Settings {
		if s.Flag() == name {
			return true
		}
	}
	return false
}

// printFlags prints the flags of fs that keep accepts, as PrintDefaults does.
func printFlags(w io.Writer, fs *flag.FlagSet, keep func(name string) bool) {
	sub := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	sub.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if keep(f.Name) {
			sub.Var(f.Value, f.Name, f.Usage)
			sub.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	sub.PrintDefaults()
}

// parse parses flags wherever they stand among the positional arguments, so
// "keys rotate --json" works as well as "keys --json rotate"; it returns the
// positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
