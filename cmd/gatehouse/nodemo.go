//go:build !demo

package main

import (
	"context"
	"errors"
)

// errNoDemo: the demo runs in-process test identity providers (providers/
// providertest, which can also play hostile IdPs for the tests), so it is only
// built in with -tags demo and the server binary carries none of it.
var errNoDemo = errors.New("this gatehouse is built without the demo: run `make demo` " +
	"(go run -tags demo ./cmd/gatehouse demo)")

func cmdDemo(_ context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "demo", "demo", errNoDemo.Error())
	if err := fs.Parse(args); err != nil {
		return err // --help
	}
	return errNoDemo
}

func cmdDemoCLI(_ context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "demo-cli", "demo-cli", errNoDemo.Error())
	if err := fs.Parse(args); err != nil {
		return err // --help
	}
	return errNoDemo
}
