package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// kills are the kill -9 windows.
func (w *world) kills() []window {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.killed)
}

// margin is what a request may take past GATEHOUSE_REQUEST_TIMEOUT: /readyz's
// own 2 s ping bound, and scheduling on a shared machine.
const margin = 3500 * time.Millisecond

// checkCalls checks the calls the load made against the fault windows: no
// request hung past its timeout; during a database fault /readyz said 503 and
// requests that needed the database failed with 503; an unreachable IdP slowed
// only sign-ins through it, which ended on a readable error page.
func checkCalls(w *world, l *ledger, windows []window, r *report, end time.Time) {
	in := func(c call, kinds ...string) *window {
		for i, win := range windows {
			if slices.Contains(kinds, win.kind) && !c.start.Before(win.start) && c.start.Before(win.end) {
				return &windows[i]
			}
		}
		return nil
	}
	bound := w.timeout + margin
	var slow, total, served500, unanswered int
	var readyDown, readyUp, outage503, outageOK, outageOther int
	var normal, unreachable []time.Duration
	quietAfter := func(c call) bool {
		for _, win := range windows {
			if !c.start.Before(win.start.Add(-time.Second)) && c.start.Before(win.end.Add(3*time.Second)) {
				return false
			}
		}
		return true
	}
	for _, c := range l.calls {
		if c.kind == "idp" || c.canceled {
			continue // the harness's own visits to the IdP's pages
		}
		total++
		d := c.end.Sub(c.start)
		if d > bound {
			slow++
			r.violation("%s at replica %d took %v (bound %v), answered %d", c.kind, c.replica, d.Round(time.Millisecond), bound, c.status)
		}
		if c.status == 0 {
			unanswered++
			if in(c, "kill -9") == nil && !c.end.After(end) {
				// Only a killed replica may leave a request unanswered.
				if k := w.killedAround(c); !k {
					r.violation("%s at replica %d got no answer outside a kill -9", c.kind, c.replica)
				}
			}
		}
		if c.status == 500 {
			served500++
			r.violation("%s at replica %d answered 500 at +%.2fs", c.kind, c.replica, c.start.Sub(w.t0).Seconds())
		}
		db := in(c, "postgres stopped", "postgres frozen")
		switch {
		case db != nil && c.kind == "readyz":
			// From 300 ms in (a ping already under way may still succeed) to the end.
			if c.start.After(db.start.Add(300*time.Millisecond)) && c.end.Before(db.end) {
				if c.status == 503 {
					readyDown++
				} else {
					readyUp++
					r.violation("/readyz at replica %d answered %d during %s", c.replica, c.status, db.kind)
				}
			}
		case db != nil && c.end.Before(db.end):
			switch {
			case c.status == 503:
				outage503++
			case c.status/100 == 2 || c.status/100 == 3 || c.status/100 == 4:
				outageOK++ // needed no database (a cached client, a held audit event) or refused as usual
			default:
				outageOther++
				r.violation("%s at replica %d answered %d during %s, want 503", c.kind, c.replica, c.status, db.kind)
			}
		}
		if c.kind == "client_credentials" || c.kind == "introspection" {
			switch {
			case in(c, "idp unreachable", "idp slow") != nil && c.status == 200:
				unreachable = append(unreachable, d)
			case quietAfter(c) && c.status == 200:
				normal = append(normal, d)
			}
		}
	}
	r.count("requests to the replicas", total)
	r.count("  ... unanswered (connection refused or reset: a killed replica)", unanswered)
	r.count(fmt.Sprintf("  ... slower than GATEHOUSE_REQUEST_TIMEOUT %v + %v (violation)", w.timeout, margin), slow)
	r.count("  ... answered 500 (violation)", served500)
	r.count("/readyz during a database fault: 503", readyDown)
	r.count("  ... anything else (violation)", readyUp)
	r.count("requests during a database fault: 503", outage503)
	r.count("  ... 2xx-4xx (needed no database, or refused as usual)", outageOK)
	r.count("  ... other (violation)", outageOther)
	for _, win := range windows {
		if (win.kind == "postgres stopped" || win.kind == "postgres frozen") && win.resumed < 0 {
			r.violation("service did not resume within 30 s after %s", win.kind)
		}
	}

	// An unreachable IdP costs nothing to what does not sign in through it.
	mn, mu := median(normal), median(unreachable)
	r.count("median client_credentials+introspection, no fault / IdP slow or unreachable",
		fmt.Sprintf("%v / %v (%d / %d calls)", mn.Round(10*time.Microsecond), mu.Round(10*time.Microsecond), len(normal), len(unreachable)))
	if len(unreachable) == 0 || len(normal) == 0 {
		r.violation("no client_credentials or introspection to compare around the IdP fault")
	} else if mu > 2*mn+25*time.Millisecond {
		r.violation("the IdP fault slowed client_credentials and introspection: median %v, %v without faults", mu, mn)
	}
	var failed, readable int
	for _, f := range l.signinFails {
		for _, win := range windows {
			if win.kind == "idp unreachable" && f.path == "/callback/corp" && !f.at.Before(win.start) && f.at.Before(win.end.Add(w.timeout)) {
				failed++
				if f.readable {
					readable++
				} else {
					r.violation("a sign-in through the unreachable IdP ended on a %d page without a message (request %s)", f.status, f.reqID)
				}
			}
		}
	}
	r.count("sign-ins failed while the IdP was unreachable / with a readable error page", fmt.Sprintf("%d / %d", failed, readable))
	if failed == 0 {
		r.violation("no sign-in met the unreachable IdP: the harness proved nothing about it")
	}
}

// killedAround: c was sent to a replica that was killed while c was under way
// or soon before (its listener gone until the restart).
func (w *world) killedAround(c call) bool {
	for _, k := range w.kills() {
		if k.replica == c.replica && c.end.After(k.start) && c.start.Before(k.end) {
			return true
		}
	}
	return false
}

// checkPools: no replica process held more server connections than
// GATEHOUSE_DB_MAX_CONNS. Samples in the 3 s after a freeze or a stop ends are
// counted apart: connection attempts a replica gave up on while the database
// hung (its pool already replaced them) reach PostgreSQL only when it thaws, and
// live there until it reads them closed; SIGSTOP and a held listen backlog do
// the same.
func checkPools(w *world, pw *poolWatch, windows []window, r *report) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	afterDBFault := func(at time.Time) bool {
		for _, win := range windows {
			if (win.kind == "postgres stopped" || win.kind == "postgres frozen") &&
				!at.Before(win.end) && at.Before(win.end.Add(3*time.Second)) {
				return true
			}
		}
		return false
	}
	r.count("pg_stat_activity samples (per replica process)", len(pw.samples))
	for n := range 2 {
		most, burst := 0, 0
		for _, s := range pw.samples {
			if !strings.HasPrefix(s.app, appName(n)+"-") {
				continue
			}
			if afterDBFault(s.at) {
				burst = max(burst, s.n)
				continue
			}
			most = max(most, s.n)
			if s.n > w.maxConns {
				r.violation("%s held %d connections at +%.2fs, over its cap of %d", s.app, s.n, s.at.Sub(w.t0).Seconds(), w.maxConns)
			}
		}
		r.count(fmt.Sprintf("most connections one process of replica %d held (GATEHOUSE_DB_MAX_CONNS=%d)", n, w.maxConns), most)
		r.count("  ... in the 3 s after a database fault (abandoned attempts arriving)", burst)
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
