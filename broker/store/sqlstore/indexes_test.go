package sqlstore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// plan is the query plan of q with args: SQLite's EXPLAIN QUERY PLAN details,
// or PostgreSQL's EXPLAIN text, one line each.
func plan(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	explain := "EXPLAIN "
	if db.dialect == sqliteDialect {
		explain = "EXPLAIN QUERY PLAN "
	}
	rows, err := db.sql.QueryContext(t.Context(), explain+q, args...)
	if err != nil {
		t.Fatalf("%s%s: %v", explain, q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprint(vals[len(vals)-1])) // SQLite's detail, PostgreSQL's only column
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// analyzed is a migrated database of the dialect holding n audit events over
// 40 actions and n/4 users, with statistics gathered, so that PostgreSQL's
// planner weighs the indexes against reading the table as it would in use.
func analyzed(t *testing.T, url string, n int) *DB {
	t.Helper()
	db := openMigrated(t, url)
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	events := make([]store.AuditEvent, n)
	for i := range events {
		events[i] = store.AuditEvent{Time: t0.Add(time.Duration(i) * time.Second), Actor: fmt.Sprint("u", i%100),
			Action: fmt.Sprint("action.", i%40), Target: fmt.Sprint("t", i%50)}
	}
	if err := db.Audit().Append(t.Context(), events...); err != nil {
		t.Fatal(err)
	}
	for i := range n / 4 {
		u := store.User{ID: fmt.Sprintf("user-%05d", i), Email: fmt.Sprintf("person%05d@example.com", i), Name: fmt.Sprint("Person ", i)}
		if err := db.Users().Create(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.sql.ExecContext(t.Context(), `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestAuditFilterByActionUsesIndex: the audit log's query filtered by action
// (alone, with a time range, and past a cursor) reads the audit_events_action
// index of migration 0015 in both dialects, rather than the whole log.
func TestAuditFilterByActionUsesIndex(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := analyzed(t, b.url(t), 4000)
			t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
			for name, f := range map[string]store.AuditFilter{
				"action": {Action: "action.7", Limit: 50},
				// A range wider than the action: the action is what narrows it.
				"action, range": {Action: "action.7", Since: t0.Add(10 * time.Minute), Until: t0.Add(24 * time.Hour), Limit: 50},
				"action, after": {Action: "action.7", After: store.AuditCursor{Time: t0.Add(time.Hour), ID: 3600}, Limit: 50},
			} {
				q, args := audit{db}.listQuery(f)
				if p := plan(t, db, q, args...); !strings.Contains(p, "audit_events_action") {
					t.Errorf("%s: the plan does not use audit_events_action:\n%s", name, p)
				}
			}
		})
	}
}

// TestUserSearchWalksIndex: people search reads users_search (migration 0015)
// in its order from the cursor, without sorting the table; on SQLite the
// index also holds lower(name), so a text search checks each row from the
// index and reads the table for the matches only. On PostgreSQL a text
// search has no index to find its rows ('%text%'), and reading the table
// then sorting the few matches can be the cheaper plan: only the listing
// pages, which a search by nothing is, must walk the index.
func TestUserSearchWalksIndex(t *testing.T) {
	after := store.UserCursor{Email: "person00500@example.com", ID: "user-00500"}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := analyzed(t, b.url(t), 4000)
			for _, tc := range []struct {
				name      string
				q         store.UserSearch
				everyPlan bool
			}{
				{"all", store.UserSearch{}, true},
				{"next page", store.UserSearch{After: after}, true},
				{"text", store.UserSearch{Query: "person 12"}, false},
				{"text, after", store.UserSearch{Query: "person", After: after}, false},
			} {
				if !tc.everyPlan && db.dialect != sqliteDialect {
					continue
				}
				sq, args := users{db}.searchQuery(tc.q)
				p := plan(t, db, sq, args...)
				if !strings.Contains(p, "users_search") || strings.Contains(p, "TEMP B-TREE") || strings.Contains(p, "Sort") {
					t.Errorf("%s: the plan does not walk users_search in order:\n%s", tc.name, p)
				}
			}
		})
	}
}

// TestRefreshDelegationIndexIsPartial: refresh_tokens_delegation holds only
// delegated tokens (migration 0023), so a token without a delegation, most of
// them, writes no entry there when it is issued, rotated or swept (issue 14).
func TestRefreshDelegationIndexIsPartial(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := openMigrated(t, b.url(t))
			q := `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = $1`
			if db.dialect != sqliteDialect {
				q = `SELECT indexdef FROM pg_indexes WHERE indexname = $1`
			}
			var def string
			if err := db.sql.QueryRowContext(t.Context(), q, "refresh_tokens_delegation").Scan(&def); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(def, "WHERE") || !strings.Contains(def, "delegation_id <> ''") {
				t.Errorf("refresh_tokens_delegation = %s, want an index WHERE delegation_id <> ''", def)
			}
		})
	}
}
