package chaos

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	durationFlag = flag.Duration("chaos.duration", 0,
		"how long the load and the faults run (default: $CHAOS_DURATION, else the short form for CI)")
	seedFlag = flag.Uint64("chaos.seed", 0, "the fault schedule's seed (default: $CHAOS_SEED, else random; printed)")
)

// shortForm is the load's length under `make test`: one of each fault.
const shortForm = 45 * time.Second

func settings(t *testing.T) (time.Duration, uint64) {
	d := *durationFlag
	if d == 0 {
		if env := os.Getenv("CHAOS_DURATION"); env != "" {
			var err error
			if d, err = time.ParseDuration(env); err != nil {
				t.Fatalf("CHAOS_DURATION: %v", err)
			}
		}
	}
	seed := *seedFlag
	if seed == 0 {
		if env := os.Getenv("CHAOS_SEED"); env != "" {
			var err error
			if seed, err = strconv.ParseUint(env, 10, 64); err != nil {
				t.Fatalf("CHAOS_SEED: %v", err)
			}
		}
	}
	if seed == 0 {
		seed = rand.Uint64()
	}
	return d, seed
}

// window is a fault, from when it was injected to when it was lifted.
type window struct {
	kind       string
	replica    int // for kill -9
	start, end time.Time
	// resumed is when both replicas were ready again after a database fault.
	resumed time.Duration
}

// TestChaos is issue 14's fault harness: see the package comment and the
// README's "Faults".
func TestChaos(t *testing.T) {
	d, seed := settings(t)
	if d == 0 {
		d = shortForm
	}
	t.Logf("chaos: duration %v, seed %d (CHAOS_SEED=%d repeats this schedule)", d, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	const people = 4
	db := newDB(t)
	w := newWorld(t, people, 2, db.direct, db.replicaURL)
	w.sql, w.db = db.sql, db
	l := newLedger()
	ld := &loader{w: w, l: l}

	w.t0 = time.Now()
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	pools := db.watchPools(ctx)
	var wg sync.WaitGroup
	seeds := make([]uint64, 2+people+2)
	for i := range seeds {
		seeds[i] = rng.Uint64()
	}
	wg.Go(func() { ld.ccLoop(ctx, rand.New(rand.NewPCG(seeds[0], 2))) })
	wg.Go(func() { ld.introspectLoop(ctx, rand.New(rand.NewPCG(seeds[1], 2))) })
	for u := range people {
		wg.Go(func() { ld.personLoop(ctx, rand.New(rand.NewPCG(seeds[2+u], 2)), u) })
	}
	wg.Go(func() { ld.readyLoop(ctx) })

	windows := runFaults(t, w, rng, d)
	stopLoad()
	wg.Wait()
	end := time.Now()

	r := &report{t: t, t0: w.t0}
	checkAfter(t, w, l, r)
	checkCalls(w, l, windows, r, end)
	checkPools(w, pools, windows, r)
	r.print(l, windows)
	for _, v := range r.violations {
		t.Error(v)
	}
	if t.Failed() {
		for _, rep := range w.replicas {
			t.Logf("replica %d log, errors:\n%s", rep.n, errorLines(rep.logPath))
		}
	}
}

// readyLoop asks each replica's /readyz every 250 ms.
func (ld *loader) readyLoop(ctx context.Context) {
	for ctx.Err() == nil {
		var wg sync.WaitGroup
		for n := range ld.w.n() {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ld.w.issuer+"/readyz", nil)
				_, _ = ld.l.do(ld.w.client(n, nil), "readyz", n, req)
			})
		}
		wg.Wait()
		pause(ctx, 250*time.Millisecond)
	}
}

// runFaults injects faults for d: every kind once in a random order, then (the
// long form) more in random order, each with random lengths, with the load
// running alone before, between and after them.
func runFaults(t *testing.T, w *world, rng *rand.Rand, d time.Duration) []window {
	var windows []window
	start := time.Now()
	kinds := []string{"kill -9", "postgres stopped", "postgres frozen", "idp slow, then unreachable"}
	var plan []string
	for _, i := range rng.Perm(len(kinds)) {
		plan = append(plan, kinds[i])
	}
	between := func() time.Duration { return 2*time.Second + time.Duration(rng.IntN(2000))*time.Millisecond }
	lastDB := time.Time{}
	sleep := func(d time.Duration) { time.Sleep(d) }
	sleep(between() + 2*time.Second) // the load alone: the baseline
	for i := 0; ; i++ {
		if i >= len(plan) {
			if time.Since(start) > d-10*time.Second {
				break
			}
			plan = append(plan, kinds[rng.IntN(len(kinds))])
		}
		kind := plan[i]
		win := window{kind: kind, start: time.Now()}
		switch kind {
		case "kill -9":
			// A replica killed just after a database fault would lose the audit
			// events it still holds in memory (documented); wait past the
			// writer's retry backoff (5 s) so this run counts only the batch window.
			if wait := 6*time.Second - time.Since(lastDB); wait > 0 {
				sleep(wait)
			}
			sleep(time.Duration(rng.IntN(1000)) * time.Millisecond) // a random moment
			win = w.killAndRestart(t, rng.IntN(2), time.Duration(500+rng.IntN(1500))*time.Millisecond)
		case "postgres stopped":
			w.db.cluster.Stop()
			sleep(time.Duration(2000+rng.IntN(2000)) * time.Millisecond)
			win.end = time.Now()
			if err := w.db.cluster.Start(); err != nil {
				t.Fatalf("starting PostgreSQL again: %v", err)
			}
			win.resumed = w.waitReady(t)
			lastDB = time.Now()
		case "postgres frozen":
			w.db.proxy.Freeze()
			sleep(time.Duration(3000+rng.IntN(2000)) * time.Millisecond)
			win.end = time.Now()
			w.db.proxy.Thaw()
			win.resumed = w.waitReady(t)
			lastDB = time.Now()
		case "idp slow, then unreachable":
			w.idp.mode.Store(int32(idpSlow))
			sleep(time.Duration(2000+rng.IntN(2000)) * time.Millisecond)
			windows = append(windows, window{kind: "idp slow", start: win.start, end: time.Now()})
			win = window{kind: "idp unreachable", start: time.Now()}
			w.idp.mode.Store(int32(idpUnreachable))
			sleep(time.Duration(4000+rng.IntN(2000)) * time.Millisecond)
			w.idp.mode.Store(int32(idpNormal))
			win.end = time.Now()
		}
		windows = append(windows, win)
		t.Logf("chaos: %s from +%.1fs to +%.1fs", win.kind, win.start.Sub(w.t0).Seconds(), win.end.Sub(w.t0).Seconds())
		sleep(between())
	}
	sleep(3 * time.Second) // the load alone again, after the last fault
	return windows
}

// maxSessionsPerUser is signin's cap on one person's sessions (DOS-12): a sign-in
// beyond it ends the oldest session, and that session's tokens with it.
const maxSessionsPerUser = 50

// killAndRestart kills replica n with SIGKILL, restarts it after down and
// records the fault.
func (w *world) killAndRestart(t *testing.T, n int, down time.Duration) window {
	win := window{kind: "kill -9", replica: n, start: time.Now()}
	w.replicas[n].kill()
	time.Sleep(down)
	w.replicas[n].start(t)
	win.end = time.Now()
	w.mu.Lock()
	w.killed = append(w.killed, win)
	w.mu.Unlock()
	return win
}

// waitReady waits until both replicas say /readyz 200 again, without being
// restarted: how long that took. Past 30 s it gives up (a violation).
func (w *world) waitReady(t *testing.T) time.Duration {
	start := time.Now()
	for n := range w.n() {
		for {
			res, err := w.client(n, nil).Get(w.issuer + "/readyz")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
			if time.Since(start) > 30*time.Second {
				return -1
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// report gathers the counts and the violations.
type report struct {
	t          *testing.T
	t0         time.Time // the load's start
	rows       [][2]string
	violations []string
}

func (r *report) count(what string, n any) { r.rows = append(r.rows, [2]string{what, fmt.Sprint(n)}) }

func (r *report) violation(format string, args ...any) {
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
}

func (r *report) print(l *ledger, windows []window) {
	var b strings.Builder
	b.WriteString("\nchaos: faults injected\n")
	for _, win := range windows {
		extra := ""
		switch {
		case win.kind == "kill -9":
			extra = fmt.Sprintf(" (replica %d)", win.replica)
		case win.resumed > 0:
			extra = fmt.Sprintf(" (both replicas ready %.1fs after)", win.resumed.Seconds())
		}
		fmt.Fprintf(&b, "  %-26s at +%5.2fs for %4.1fs%s\n", win.kind, win.start.Sub(r.t0).Seconds(), win.end.Sub(win.start).Seconds(), extra)
	}
	b.WriteString("chaos: counts\n")
	for _, row := range r.rows {
		fmt.Fprintf(&b, "  %-62s %s\n", row[0], row[1])
	}
	fmt.Fprintf(&b, "chaos: %d violations\n", len(r.violations))
	r.t.Log(b.String())
}

// checkAfter checks, once the load has stopped, from the database and through
// the API, that everything acknowledged is there and nothing happened twice.
func checkAfter(t *testing.T, w *world, l *ledger, r *report) {
	ctx := context.Background()
	r.count("sign-ins through the upstream IdP", l.signins)
	r.count("codes redeemed", l.codesRedeemed)
	r.count("codes presented twice at once (to both replicas, if two)", l.codeRaces)
	r.count("  ... accepted twice (violation)", l.codeDoubles)
	if l.codeDoubles > 0 {
		r.violation("%d authorization codes were redeemed twice", l.codeDoubles)
	}
	r.count("refresh rotations", l.rotations)
	r.count("refresh tokens presented twice at once (to both replicas, if two)", l.rtRaces)
	r.count("  ... rotated twice (violation)", l.rtDoubles)
	if l.rtDoubles > 0 {
		r.violation("%d refresh tokens were rotated twice", l.rtDoubles)
	}
	// A code is used once: it has one used_at, and the API check above saw
	// each raced code accepted at most once.
	var families, forked int
	must(t, w.sql.QueryRowContext(ctx, `SELECT count(DISTINCT family_id) FROM refresh_tokens`).Scan(&families))
	must(t, w.sql.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT family_id FROM refresh_tokens
		WHERE rotated_at IS NULL AND revoked_at IS NULL GROUP BY family_id HAVING count(*) > 1) f`).Scan(&forked))
	r.count("refresh families (database)", families)
	r.count("  ... with two live successors (violation)", forked)
	if forked > 0 {
		r.violation("%d refresh families have more than one live token", forked)
	}

	// Consents: the last acknowledged grant or revocation of each person holds,
	// in the database and on the account page (through each replica).
	r.count("consent grants acknowledged", l.consentAcks[consentGranted])
	r.count("consent revocations acknowledged (account page)", l.consentAcks[consentRevoked])
	checked, wrong := 0, 0
	for u, st := range l.consents {
		if st == consentUnknown {
			continue
		}
		checked++
		var n int
		must(t, w.sql.QueryRowContext(ctx, `SELECT count(*) FROM consents c JOIN identities i ON i.user_id = c.user_id
			WHERE i.provider_id = 'corp' AND i.subject = $1 AND c.client_id = 'web'`, fmt.Sprint("user-", u)).Scan(&n))
		if (n == 1) != (st == consentGranted) {
			wrong++
			r.violation("user-%d: last acknowledged consent action left it granted=%v, the database has %d rows", u, st == consentGranted, n)
		}
		for m := range w.n() {
			page, err := w.get(m, l.jars[u], "/account")
			if err != nil || !strings.Contains(page, `data-testid="connected-apps"`) {
				continue // that browser's session ended; the database said it
			}
			if strings.Contains(page, `data-testid="app-web"`) != (st == consentGranted) {
				wrong++
				r.violation("user-%d: the account page at replica %d does not show the last acknowledged consent action", u, m)
			}
		}
	}
	r.count("people whose consent state was checked (DB + account page)", checked)
	r.count("  ... wrong (violation)", wrong)

	// Every token reported revoked is inactive at introspection on both replicas.
	active := 0
	for _, rt := range l.revoked {
		for m := range w.n() {
			got, err := w.introspect(m, rt.client, rt.token)
			if err != nil {
				r.violation("introspection at replica %d after the faults: %v", m, err)
				continue
			}
			if got {
				active++
				r.violation("a token reported revoked is active at replica %d (%s)", m, rt.how)
			}
		}
	}
	r.count("tokens reported revoked, introspected on every replica", len(l.revoked))
	r.count("  ... active (violation)", active)

	// Every refresh token acknowledged last in its chain, and not revoked since,
	// is active: no acknowledged rotation was lost.
	inactive, evicted := 0, 0
	for tok, lr := range l.live {
		if l.attempts[lr.person]-lr.attempt >= maxSessionsPerUser-1 {
			evicted++
			continue
		}
		for m := range w.n() {
			got, err := w.introspect(m, "web", tok)
			if err != nil {
				r.violation("introspection at replica %d after the faults: %v", m, err)
				continue
			}
			if !got {
				inactive++
				r.violation("an acknowledged refresh token, neither used nor revoked since, is inactive at replica %d", m)
			}
		}
	}
	r.count("refresh tokens acknowledged last in their chain, introspected", len(l.live)-evicted)
	r.count("  ... not checked: 50 sign-ins of the person since (session evicted)", evicted)
	r.count("  ... inactive (violation)", inactive)

	// Audit rows: an orderly stop spills what a replica holds, the next start
	// writes it; then every acknowledged action has its row, by request ID,
	// except issuance events acknowledged in the batch window before a kill -9.
	for _, rep := range w.replicas {
		rep.stop()
	}
	for _, rep := range w.replicas {
		rep.start(t)
	}
	if w.waitReady(t) < 0 {
		r.violation("replicas not ready after an orderly restart")
	}
	time.Sleep(time.Second) // a flush interval and then some
	rows, err := w.sql.QueryContext(ctx, `SELECT request_id, action FROM audit_events`)
	must(t, err)
	stored := map[[2]string]bool{}
	for rows.Next() {
		var id, action string
		must(t, rows.Scan(&id, &action))
		stored[[2]string{id, action}] = true
	}
	must(t, rows.Err())
	rows.Close()
	checkAudit(w, l, stored, r)
}

// checkAudit checks the acknowledged actions against the audit rows stored, by
// request ID and action: each has its row, but for issuance events lost to a
// kill -9 in the batch window, and those only the newest.
func checkAudit(w *world, l *ledger, stored map[[2]string]bool, r *report) {
	byAction := map[string][3]int{} // acknowledged, stored, lost in a kill window
	var oldestLost time.Duration    // the longest before its kill -9 a lost event was acknowledged
	var lost []ack                  // the batched events lost in a kill window
	for id, a := range l.acks {
		c := byAction[a.action]
		c[0]++
		switch {
		case stored[[2]string{id, a.action}]:
			c[1]++
		case a.batched && killedSoonAfter(w, a):
			c[2]++
			lost = append(lost, a)
			for _, k := range w.kills() {
				if d := k.start.Sub(a.at); k.replica == a.replica && a.at.Before(k.end) && d < lossWindow {
					oldestLost = max(oldestLost, d)
				}
			}
		default:
			r.violation("acknowledged %s (request %s at replica %d, +%.2fs) has no audit row", a.action, id, a.replica, a.at.Sub(w.t0).Seconds())
		}
		byAction[a.action] = c
	}
	actions := make([]string, 0, len(byAction))
	for a := range byAction {
		actions = append(actions, a)
	}
	slices.Sort(actions)
	for _, a := range actions {
		c := byAction[a]
		r.count(fmt.Sprintf("audit %s: acknowledged / rows / lost to kill -9 in the batch window", a),
			fmt.Sprintf("%d / %d / %d", c[0], c[1], c[2]))
	}
	r.count("  ... the earliest lost event was acknowledged before its kill -9 by", oldestLost.Round(time.Millisecond))
	r.count("  ... lost, though a later one of its replica was stored (violation)", lostOutOfOrder(w, l, stored, lost, r))
}

// lostOutOfOrder counts the lost events of lost that an event stored after them
// shows were not in the last batches: batches are written in the order their
// events were enqueued, so a kill -9 loses only the newest. An event whose request
// was sent after a lost one was acknowledged, and answered by the same replica
// before its kill, was enqueued after it by the same process; if it has its row,
// the lost one was in a batch written before, or should have been.
func lostOutOfOrder(w *world, l *ledger, stored map[[2]string]bool, lost []ack, r *report) int {
	n := 0
	for _, x := range lost {
		kill := time.Time{} // x's replica's first kill -9 after x
		for _, k := range w.kills() {
			if k.replica == x.replica && x.at.Before(k.end) && (kill.IsZero() || k.start.Before(kill)) {
				kill = k.start
			}
		}
		for id, y := range l.acks {
			if y.batched && y.replica == x.replica && y.sent.After(x.at) && y.at.Before(kill) && stored[[2]string{id, y.action}] {
				n++
				r.violation("%s acknowledged at +%.3fs by replica %d has no audit row, though %s sent to it at +%.3fs (request %s) has",
					x.action, x.at.Sub(w.t0).Seconds(), x.replica, y.action, y.sent.Sub(w.t0).Seconds(), id)
				break
			}
		}
	}
	return n
}

// lossWindow is how long before a kill -9 an acknowledged issuance event may
// still be lost (README: Audit durability): the flush interval (the replicas run
// with the default, 100 ms) and the batch write under way, which has a
// connection of its own and so waits for no request; 200 ms for that write on
// a shared, loaded machine. See killedSoonAfter.
const lossWindow = 100*time.Millisecond + 200*time.Millisecond

// killedSoonAfter: a's replica was killed within the audit batch window after a
// acknowledged it. An answer that arrived after the harness sent SIGKILL was
// still sent before it took effect.
func killedSoonAfter(w *world, a ack) bool {
	for _, k := range w.kills() {
		if k.replica == a.replica && a.at.Before(k.end) && k.start.Sub(a.at) < lossWindow {
			return true
		}
	}
	return false
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// get is a page at replica m in a browser with jar.
func (w *world) get(m int, jar http.CookieJar, path string) (string, error) {
	if jar == nil {
		return "", fmt.Errorf("no browser")
	}
	req, _ := http.NewRequest(http.MethodGet, w.issuer+path, nil)
	a, err := (&ledger{}).do(w.client(m, jar), "check", m, req)
	if err != nil || a.status != 200 {
		return "", fmt.Errorf("%s: %d %v", path, a.status, err)
	}
	return a.body, nil
}

// introspect asks replica m whether tok is active (RFC 7662), as client.
func (w *world) introspect(m int, client, tok string) (bool, error) {
	req, _ := w.form(context.Background(), m, "/oauth2/introspect", client, url.Values{"token": {tok}})
	a, err := (&ledger{}).do(w.client(m, nil), "check", m, req)
	if err != nil || a.status != 200 {
		return false, fmt.Errorf("introspect: %d %v", a.status, err)
	}
	return strings.Contains(a.body, `"active":true`), nil
}
