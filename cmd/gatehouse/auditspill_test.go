package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
)

// serve replays the audit spill file left by a run that lost its database (or was
// killed) into the database at start, empties it, and stores each event once
// however often the file is replayed (issue 14, "Audit survives outages"). A
// second process configured with the same file refuses to start.
func TestServeReplaysTheAuditSpillFileAtStart(t *testing.T) {
	vars := baseVars(t)
	spill := filepath.Join(t.TempDir(), "audit.spill")
	vars["GATEHOUSE_AUDIT_SPILL_FILE"] = spill
	line := `{"event_id":"spilled-1","time":"2026-12-01T10:00:00Z","actor":"client:svc","action":"token.issued",` +
		`"target":"u-1","ip":"192.0.2.7","request_id":"req-spilled","details":{"jti":"j-1"}}` + "\n"
	for run := range 2 { // the second: as after a crash between the replay's insert and the truncation
		if err := os.WriteFile(spill, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		g := start(t, vars, "serve")
		if run == 0 {
			if out, err := runCommand(t, vars, "serve"); err == nil || !strings.Contains(out+err.Error(), "in use by another process") {
				t.Errorf("a second serve on the same spill file: %v\n%s", err, out)
			}
		}
		if err := g.stop(); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(spill); err != nil || st.Size() != 0 {
			t.Fatalf("spill file after serve: %v, %v; want it emptied", st, err)
		}
	}
	db, err := sqlstore.Open(context.Background(), vars["GATEHOUSE_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	evs, err := db.Audit().List(context.Background(), store.AuditFilter{Actor: "client:svc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Action != "token.issued" || evs[0].Actor != "client:svc" || string(evs[0].Details) != `{"jti":"j-1"}` {
		t.Fatalf("replayed events: %+v; want the spilled one, once", evs)
	}
}
