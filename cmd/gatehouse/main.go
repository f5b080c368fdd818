// Command gatehouse runs the Gatehouse identity broker and its administrative tasks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehouse/gatehouse/broker"
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
}

func commands() []command {
	return []command{
		{"serve", "Run Gatehouse (migrates the database first)", cmdServe},
		{"demo", "Run Gatehouse with a local demo setup: no configuration needed", cmdDemo},
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
	fmt.Fprintln(w, "\nRun 'gatehouse <command> --help' for a command's flags. Every flag can also be set\nas an environment variable (GATEHOUSE_…) or in a .env file; see .env.example.")
}

// newFlagSet returns a flag set whose --help prints the command's usage and flags.
func newFlagSet(env *environment, name, usageLine, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: gatehouse %s\n\n%s\n\nFlags:\n", usageLine, about)
		fs.PrintDefaults()
	}
	return fs
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
