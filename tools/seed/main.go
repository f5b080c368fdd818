// Command seed fills a Gatehouse database with realistic, valid rows at
// production size (issue 14, Scale): users with identities on one or two
// providers, sessions, consents, refresh-token families and months of audit
// events. -scale 1.0 is 1M users, 1M sessions, 200k consents, 10M refresh
// tokens and 20M audit events; on top of those it adds a backlog of expired
// refresh tokens and sessions (-expired, -expired-sessions) for the
// maintenance sweep to prune.
//
// It migrates the database with the store's own migrations first, then loads
// PostgreSQL through COPY and SQLite through large transactions of prepared
// inserts (journal and sync off during the load, WAL restored after). The
// clients, API and providers the rows refer to are not created here: register
// them with the CLI as tools/scale.sh does (IDs -clients, -providers, -audience).
//
// It also writes, to -out, what a load needs: refresh-tokens.txt (live refresh
// tokens of -fixtures users, one per line, never stored in clear), people.tsv
// (subject, email and name of the first users on the first provider, for the
// load's upstream IdP) and prints a few seeded IDs. The same rows come out of
// every run with the same flags (a fixed random seed); -scale 0 writes the
// fixtures only (the "empty" database of a comparison), with an audit log as
// dense as the full one's.
package main

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/store/sqlstore"
	"github.com/gatehouse/gatehouse/broker/store/sqlstore/bulk"
)

// Rows at -scale 1.0 (issue 14).
const (
	fullUsers    = 1_000_000
	fullSessions = 1_000_000
	fullConsents = 200_000
	fullRefresh  = 10_000_000
	fullAudit    = 20_000_000
)

type config struct {
	url               string
	scale             float64
	expired           float64 // expired refresh tokens, as a share of the live ones
	expiredSessions   float64 // expired sessions, as a share of the live ones
	fixtures          int
	people            int
	out               string
	clients           []string
	providers         []string
	audience          string
	now               time.Time
	auditMonths       int
	secondProviderPct int
}

func main() {
	var c config
	var clients, providers string
	flag.StringVar(&c.url, "db", os.Getenv("GATEHOUSE_DATABASE_URL"), "database URL as for gatehouse serve: sqlite:PATH or postgres://… (default $GATEHOUSE_DATABASE_URL)")
	flag.Float64Var(&c.scale, "scale", 0.01, "size: 1.0 is 1M users, 1M sessions, 200k consents, 10M refresh tokens, 20M audit events; 0 writes the fixtures only")
	flag.Float64Var(&c.expired, "expired", 1.0, "expired refresh tokens to add, as a share of the live ones (1.0 at -scale 1.0: 10M to prune)")
	flag.Float64Var(&c.expiredSessions, "expired-sessions", 0.2, "expired sessions to add, as a share of the live ones")
	flag.IntVar(&c.fixtures, "fixtures", 256, "users with a live session and a refresh token written to -out/refresh-tokens.txt for the load")
	flag.IntVar(&c.people, "people", 1000, "users listed in -out/people.tsv for the load's upstream IdP")
	flag.StringVar(&c.out, "out", ".", "directory for refresh-tokens.txt and people.tsv")
	flag.StringVar(&clients, "clients", "scale-app,scale-web", "IDs of the authorization-code clients the tokens and consents are for (the first gets the fixtures)")
	flag.StringVar(&providers, "providers", "scale-idp,scale-idp2", "IDs of the providers the identities are on (every user on the first)")
	flag.StringVar(&c.audience, "audience", "https://api.scale.test", "audience of the refresh tokens (a registered API)")
	flag.IntVar(&c.auditMonths, "audit-months", 6, "months the audit events spread over, up to now")
	status := flag.Bool("status", false, "print how many expired refresh tokens and sessions are left (what the sweep prunes), and seed nothing")
	flag.Parse()
	if *status {
		refresh, sessions, err := bulk.Expired(context.Background(), c.url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "seed:", err)
			os.Exit(1)
		}
		fmt.Printf("expired_refresh=%d expired_sessions=%d\n", refresh, sessions)
		return
	}
	c.clients, c.providers = strings.Split(clients, ","), strings.Split(providers, ",")
	c.secondProviderPct = 30
	c.now = time.Now().UTC().Truncate(time.Microsecond)
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	switch {
	case c.url == "":
		return errors.New("no database: -db or GATEHOUSE_DATABASE_URL")
	case c.scale < 0 || c.scale > 10:
		return errors.New("-scale must be from 0 to 10")
	case c.fixtures < 1 || c.people < c.fixtures:
		return errors.New("-fixtures must be at least 1 and at most -people")
	}
	db, err := sqlstore.Open(ctx, c.url)
	if err != nil {
		return err
	}
	err = db.Migrate(ctx)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	w, err := bulk.Open(ctx, c.url)
	if err != nil {
		return err
	}
	g := newGen(c)
	start := time.Now()
	var total int64
	for _, t := range g.tables() {
		t0 := time.Now()
		n, err := w.Load(ctx, t)
		if err != nil {
			_ = w.Close(ctx) // the load's error is the one to report
			return fmt.Errorf("%s: %w", t.Name, err)
		}
		total += n
		d := time.Since(t0)
		fmt.Printf("seed: %-15s %11d rows in %8.1fs  %9.0f rows/s\n", t.Name, n, d.Seconds(), float64(n)/d.Seconds())
	}
	t0 := time.Now()
	if err := w.Close(ctx); err != nil {
		return err
	}
	fmt.Printf("seed: finishing (%s) %.1fs\n", w.Finish(), time.Since(t0).Seconds())
	d := time.Since(start)
	fmt.Printf("seed: %d rows in %.1fs, %.0f rows/s\n", total, d.Seconds(), float64(total)/d.Seconds())
	if err := g.writeFixtures(); err != nil {
		return err
	}
	g.printIDs()
	return nil
}

// gen derives every row from its index, so that the tables agree (a session's
// user exists, a token's session is a session) without keeping them in memory.
type gen struct {
	config
	users, sessions, expiredSessions, consents, refresh, expiredRefresh, audit int
	tokens                                                                     []string // fixture refresh tokens in clear
}

func newGen(c config) *gen {
	n := func(full int) int { return int(float64(full) * c.scale) }
	g := &gen{config: c, users: max(n(fullUsers), c.people), sessions: max(n(fullSessions), c.fixtures),
		consents: n(fullConsents), refresh: n(fullRefresh), audit: n(fullAudit)}
	g.expiredSessions = int(float64(n(fullSessions)) * c.expiredSessions)
	g.expiredRefresh = int(float64(g.refresh) * c.expired)
	g.consents = min(g.consents, g.users*len(c.clients))
	// The audit log at least as dense as at full size (20 events a user): with
	// none, the "empty" database's filtered audit page had no row to show, and
	// the comparison measured an empty answer against a page of 50.
	g.audit = max(g.audit, g.users*(fullAudit/fullUsers))
	return g
}

// mix is splitmix64: a well-spread number from an index.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Identifiers look like Gatehouse's own (random hex), spread over the index.
func (g *gen) userID(i int) string {
	return fmt.Sprintf("%016x%016x", mix(uint64(i)), mix(uint64(i)^0x75))
}
func (g *gen) subject(i int) string { return fmt.Sprintf("%x", mix(uint64(i)^0x5ab)) }
func (g *gen) sessionID(j int) string {
	return fmt.Sprintf("%016x%016x", mix(uint64(j)^0x5e55), mix(uint64(j)^0x5e56))
}
func (g *gen) email(i int) string { return fmt.Sprintf("person%07d@example.com", i) }
func (g *gen) name(i int) string  { return fmt.Sprintf("Person %d", i) }

// sessionUser is the user of session j: the fixtures' own, then any user.
func (g *gen) sessionUser(j int) int {
	if j < g.fixtures {
		return j
	}
	return int(mix(uint64(j)^0xa11) % uint64(g.users))
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// Column values the loader encodes for its database.
type (
	ts   = bulk.TS
	list = bulk.List
)

type table = bulk.Table

func newTable(name string, columns []string, rows int, next func(i int) []any) table {
	return table{Name: name, Columns: columns, Rows: rows, Next: next}
}

func (g *gen) tables() []table {
	r := rand.New(rand.NewPCG(1, 2))
	day := 24 * time.Hour
	ago := func(max time.Duration) time.Time { return g.now.Add(-time.Duration(r.Int64N(int64(max)))) }
	ip := func() string { return fmt.Sprintf("203.0.113.%d", r.IntN(254)+1) }
	var tables []table
	tables = append(tables, newTable("users", []string{"id", "email", "email_norm", "email_verified", "name", "disabled", "created_at", "updated_at"},
		g.users, func(i int) []any {
			created := ago(365 * day)
			return []any{g.userID(i), g.email(i), g.email(i), true, g.name(i), i%500 == 499 && i >= g.people, ts(created), ts(created)}
		}))
	// Every user on the first provider, a share on the second too.
	second := g.users * g.secondProviderPct / 100
	if len(g.providers) < 2 {
		second = 0
	}
	tables = append(tables, newTable("identities", []string{"provider_id", "subject", "user_id", "email", "email_verified", "claims", "linked_at", "last_login_at"},
		g.users+second, func(i int) []any {
			p, u := g.providers[0], i
			if i >= g.users {
				// Spread over the users, one each.
				p, u = g.providers[1], int(int64(i-g.users)*int64(g.users)/int64(second))
			}
			claims := fmt.Sprintf(`{"sub":%q,"email":%q,"email_verified":true,"name":%q}`, g.subject(u), g.email(u), g.name(u))
			return []any{p, g.subject(u), g.userID(u), g.email(u), true, []byte(claims), ts(ago(365 * day)), ts(ago(30 * day))}
		}))
	// Live sessions (the fixtures' first), then expired ones for the sweep.
	tables = append(tables, newTable("sessions", []string{"id", "token_hash", "user_id", "provider_id", "auth_time", "amr", "acr", "ip", "user_agent",
		"created_at", "last_seen_at", "expires_at", "subject", "roles", "logout_state_enc", "logout_key"},
		g.sessions+g.expiredSessions, func(j int) []any {
			u := g.sessionUser(j)
			created := ago(7 * day)
			if j < g.fixtures {
				created = g.now
			}
			// Seen within the last half day: live under tools/scale.sh's idle timeout.
			seen, expires := g.now.Add(-time.Duration(r.Int64N(int64(12*time.Hour)))), created.Add(30*day)
			if j >= g.sessions { // expired a while ago
				created = g.now.Add(-40*day - time.Duration(r.Int64N(int64(20*day))))
				seen, expires = created.Add(time.Hour), created.Add(30*day)
			}
			if seen.Before(created) {
				seen = created
			}
			return []any{g.sessionID(j), hash("session-secret-" + g.sessionID(j)), g.userID(u), g.providers[0], ts(created), list{"pwd"}, "",
				ip(), "Mozilla/5.0 (X11; Linux x86_64) Firefox/146.0", ts(created), ts(seen), ts(expires), g.subject(u), list(nil), nil, ""}
		}))
	tables = append(tables, newTable("consents", []string{"user_id", "client_id", "scopes", "created_at", "updated_at", "last_used_at"},
		g.consents, func(k int) []any {
			// Consent k is user k%users's for client k/users: pairs never repeat.
			u, c := k%g.users, g.clients[(k/g.users)%len(g.clients)]
			created := ago(300 * day)
			return []any{g.userID(u), c, list{"openid", "email", "profile", "api"}, ts(created), ts(created), ts(ago(30 * day))}
		}))
	// Families of four: three rotated, the current one; one family in twenty
	// revoked. The fixtures' tokens come first, then the expired backlog last.
	const family = 4
	refreshCols := []string{"token_hash", "family_id", "grant_id", "client_id", "user_id", "session_id", "scopes", "audience",
		"delegation_id", "auth_time", "created_at", "expires_at", "rotated_at", "revoked_at", "acr", "amr"}
	var fam struct {
		id, grant, client string
		user, session     int
		created, expires  time.Time
		revoked           bool
	}
	tables = append(tables, newTable("refresh_tokens", refreshCols, g.fixtures+g.refresh+g.expiredRefresh, func(i int) []any {
		if i < g.fixtures {
			var secret [32]byte
			_, _ = crand.Read(secret[:]) // never fails (crypto/rand)
			tok := base64.RawURLEncoding.EncodeToString(secret[:])
			g.tokens = append(g.tokens, tok)
			return []any{hash(tok), "fixture-family-" + fmt.Sprint(i), "fixture-grant-" + fmt.Sprint(i), g.clients[0], g.userID(i),
				g.sessionID(i), list{"openid", "api"}, g.audience, "", ts(g.now), ts(g.now), ts(g.now.Add(30 * day)), ts{}, ts{}, "", list{"pwd"}}
		}
		k := i - g.fixtures
		pos := k % family
		if pos == 0 {
			fam.id, fam.grant = fmt.Sprintf("%032x", mix(uint64(i))), fmt.Sprintf("%032x", mix(uint64(i)^0x6a))
			fam.client = g.clients[r.IntN(len(g.clients))]
			fam.session = r.IntN(g.sessions)
			fam.user = g.sessionUser(fam.session)
			fam.created = ago(20 * day)
			fam.revoked = r.IntN(20) == 0
			if k >= g.refresh { // the backlog: expired a month ago or more
				fam.created = g.now.Add(-60*day - time.Duration(r.Int64N(int64(30*day))))
			}
			fam.expires = fam.created.Add(30 * day)
		}
		created := fam.created.Add(time.Duration(pos) * time.Hour)
		var rotated, revoked ts
		if pos < family-1 {
			rotated = ts(created.Add(time.Hour))
		}
		if fam.revoked {
			revoked = ts(fam.created.Add(family * time.Hour))
		}
		return []any{hash(fmt.Sprintf("refresh-%d", i)), fam.id, fam.grant, fam.client, g.userID(fam.user), g.sessionID(fam.session),
			list{"openid", "email", "api", "offline_access"}, g.audience, "", ts(fam.created), ts(created), ts(fam.expires), rotated, revoked, "", list{"pwd"}}
	}))
	tables = append(tables, g.auditTable(r))
	return tables
}

// auditActions is the mix of a broker's log: mostly token issuance, then
// sign-ins and session ends, a few refusals and administrative changes.
var auditActions = []struct {
	action string
	weight int
}{
	{"token.issued", 55}, {"signin.succeeded", 14}, {"session.ended", 7}, {"token.exchanged", 5}, {"oauth.rejected", 5},
	{"consent.granted", 3}, {"signin.refused", 3}, {"identity.linked", 2}, {"session.logout", 2}, {"token.revoked", 1},
	{"session.evicted", 1}, {"consent.refused", 1}, {"client.updated", 1},
}

func (g *gen) auditTable(r *rand.Rand) table {
	var wheel []string
	for _, a := range auditActions {
		for range a.weight {
			wheel = append(wheel, a.action)
		}
	}
	span := time.Duration(g.auditMonths) * 30 * 24 * time.Hour
	first := g.now.Add(-span)
	return newTable("audit_events", []string{"occurred_at", "actor", "action", "target", "ip", "request_id", "details", "event_id"},
		g.audit, func(i int) []any {
			// In time order, as appended: the id grows with the time.
			at := first.Add(time.Duration(float64(span) * float64(i) / float64(max(g.audit, 1))))
			action := wheel[r.IntN(len(wheel))]
			u := g.userID(r.IntN(g.users))
			client := g.clients[r.IntN(len(g.clients))]
			actor, target, details := u, client, `{}`
			switch {
			case strings.HasPrefix(action, "token.") || action == "oauth.rejected":
				actor, target = "client:"+client, u
				details = `{"grant_type":"refresh_token","scope":"openid api"}`
			case strings.HasPrefix(action, "signin.") || strings.HasPrefix(action, "identity."):
				target = g.providers[r.IntN(len(g.providers))]
				details = `{"subject":"` + g.subject(r.IntN(g.users)) + `"}`
			case strings.HasPrefix(action, "session."):
				target = g.sessionID(r.IntN(g.sessions))
			case action == "client.updated":
				actor = "cli"
			}
			var reqID [8]byte
			for k := range reqID {
				reqID[k] = byte(r.Uint32())
			}
			return []any{ts(at), actor, action, target, fmt.Sprintf("203.0.113.%d", r.IntN(254)+1), hex.EncodeToString(reqID[:]),
				[]byte(details), fmt.Sprintf("%016x%016x", mix(uint64(i)^0xe7), mix(uint64(i)^0xe8))}
		})
}

// writeFixtures writes what the load needs: the fixtures' refresh tokens (each
// rotates into a chain under load) and the people the load's IdP signs in.
func (g *gen) writeFixtures() error {
	if err := os.MkdirAll(g.out, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(g.out, "refresh-tokens.txt"), []byte(strings.Join(g.tokens, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	var b strings.Builder
	for i := range g.people {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", g.subject(i), g.email(i), g.name(i), g.userID(i))
	}
	return os.WriteFile(filepath.Join(g.out, "people.tsv"), []byte(b.String()), 0o600)
}

func (g *gen) printIDs() {
	fmt.Printf("seed: users %d (+%d identities on %s), sessions %d live + %d expired, consents %d, refresh tokens %d + %d fixtures + %d expired, audit events %d\n",
		g.users, g.users*g.secondProviderPct/100, g.providers, g.sessions, g.expiredSessions, g.consents, g.refresh, g.fixtures, g.expiredRefresh, g.audit)
	for _, i := range []int{0, 1, g.users / 2, g.users - 1} {
		fmt.Printf("seed: user %s  %s  subject %s on %s\n", g.userID(i), g.email(i), g.subject(i), g.providers[0])
	}
	for _, j := range []int{0, g.sessions / 2} {
		fmt.Printf("seed: session %s of user %s\n", g.sessionID(j), g.userID(g.sessionUser(j)))
	}
	fmt.Printf("seed: %d refresh tokens of %s in %s, people for the IdP in %s\n", len(g.tokens), g.clients[0],
		filepath.Join(g.out, "refresh-tokens.txt"), filepath.Join(g.out, "people.tsv"))
}
