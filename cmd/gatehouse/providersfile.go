package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers"
)

// loadProvidersFile creates or updates, by ID, every provider in the declarative
// providers file (GATEHOUSE_PROVIDERS_FILE). Providers not in the file are left
// alone, so the CLI and the file can coexist. All or nothing: every entry is
// checked as the change would check it (upstream.Prepare reads, writes nothing)
// before the first is stored, so a file with one bad entry changes nothing and
// says what is wrong with each.
func loadProvidersFile(ctx context.Context, path string, db *sqlstore.DB, uenv upstream.Env, accessTokenTTL time.Duration, log *slog.Logger) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("GATEHOUSE_PROVIDERS_FILE: %w", err)
	}
	refuse := func(lines []string) error {
		return fmt.Errorf("GATEHOUSE_PROVIDERS_FILE %s: nothing was changed; fix these and start again:\n  %s",
			path, strings.Join(lines, "\n  "))
	}
	specs, bad, err := upstream.ParseSpecEntries(b)
	if err != nil {
		return refuse(problemLines(err))
	}
	var problems []string
	for i, sp := range specs {
		if len(bad[i]) == 0 {
			bad[i] = checkSpec(ctx, db, uenv, sp)
		}
		for _, p := range bad[i] {
			problems = append(problems, upstream.EntryName(i, sp.ID)+": "+p)
		}
	}
	if len(problems) > 0 {
		return refuse(problems)
	}
	ops, closeOps := newOperations(nil, db, uenv, nil, log)
	defer closeOps()
	ops.AccessTokenTTL = accessTokenTTL
	for i, sp := range specs {
		ch, err := ops.UpsertProvider(ctx, fileActor, sp)
		if err != nil {
			// Only a concurrent edit or a failing database gets here after the checks.
			return fmt.Errorf("GATEHOUSE_PROVIDERS_FILE %s: %s: %w", path, upstream.EntryName(i, sp.ID), err)
		}
		p := ch.Provider
		log.Info("provider from file", "provider", p.ID, "created", ch.Created, "version", p.Version)
		// Disabled in the file: its sessions ended as with providers disable.
		if c := ch.CutOff; c != nil && c.Sessions > 0 {
			log.Info("disabled provider's sessions ended", "provider", p.ID, "sessions", c.Sessions, "refresh_tokens", c.RefreshTokens)
		}
	}
	return nil
}

// checkSpec is every problem adding or updating spec would meet (upstream.Prepare:
// operations' own checks, an enabled OIDC provider without a client secret
// included), in the words of the providers file. It stores nothing.
func checkSpec(ctx context.Context, st store.Store, uenv upstream.Env, spec upstream.Spec) []string {
	if _, err := upstream.Prepare(ctx, st, uenv, spec); err != nil {
		return problemLines(err)
	}
	return nil
}

// problemLines is a provider error as lines an admin reads: without the Go
// sentinels' prefixes, one problem a line.
func problemLines(err error) []string {
	msg := err.Error()
	for _, prefix := range []error{providers.ErrConfig, providers.ErrUnavailable} {
		if errors.Is(err, prefix) {
			msg = strings.ReplaceAll(msg, prefix.Error()+": ", "")
		}
	}
	return strings.Split(msg, "\n")
}
