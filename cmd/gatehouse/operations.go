package main

import (
	"context"
	"log/slog"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/delegate"
	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/upstream"
)

// The actors the audit log records for a change made from the command line
// (ADM-16): there is no request, so no IP or request ID; the actor is admin,
// whoever can reach the database and the configuration, with via "cli".
var (
	cliActor = operations.Actor{Name: "admin", Via: "cli"}
	// fileActor applies GATEHOUSE_PROVIDERS_FILE at serve start.
	fileActor = operations.Actor{Name: "admin", Via: "providers-file"}
)

// newOperations is the admin operations over db, auditing synchronously; close
// it before the database. uenv and km are needed only by the provider and key
// operations. log receives the audit writer's own log lines (nil: discarded, so
// a command's output stays its own).
func newOperations(cfg *config.Config, db *sqlstore.DB, uenv upstream.Env, km *keys.Manager, log *slog.Logger) (*operations.Service, func()) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	aw := audit.NewWriter(db.Audit(), log, audit.Options{})
	ops := &operations.Service{Store: db, Upstream: uenv, Keys: km, Audit: aw}
	if cfg != nil {
		ops.AccessTokenTTL, ops.SigningAlgorithm = cfg.AccessTokenTTL, cfg.SigningAlgorithm
	}
	// A provider change re-checks the delegations of the people it may take
	// roles from (with the operations' store, clock and AccessTokenTTL).
	ops.Delegations = &delegate.Service{Store: db, Audit: aw, Log: log}
	return ops, func() { aw.Close(context.Background()) }
}
