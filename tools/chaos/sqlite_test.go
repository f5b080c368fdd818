package chaos

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// TestDATA10_SQLiteKill9LosesNothingAcknowledged (issue 14): `gatehouse serve` on SQLite
// (WAL, synchronous=NORMAL: a commit is in the WAL file when it returns) is
// killed with SIGKILL three times while it acknowledges writes — tokens with
// refresh tokens, rotations, consents and their revocation, RFC 7009
// revocations — and restarted on the same file. Afterwards every acknowledged
// write is there: each last refresh token of a chain is active, each revoked
// token inactive, each person's last acknowledged consent action holds, no
// refresh family forked, and every audit row is stored but for issuance events
// in the batch window before a kill.
func TestDATA10_SQLiteKill9LosesNothingAcknowledged(t *testing.T) {
	_, seed := settings(t)
	t.Logf("sqlite kill -9: seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	dbURL := "sqlite:" + path
	const people = 3
	w := newWorld(t, people, 1, dbURL, func(int, int) string { return dbURL })
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w.sql = db
	l := newLedger()
	ld := &loader{w: w, l: l}
	w.t0 = time.Now()
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var wg sync.WaitGroup
	wg.Go(func() { ld.ccLoop(ctx, rand.New(rand.NewPCG(rng.Uint64(), 2))) })
	for u := range people {
		s := rng.Uint64()
		wg.Go(func() { ld.personLoop(ctx, rand.New(rand.NewPCG(s, 2)), u) })
	}
	for range 3 {
		time.Sleep(time.Duration(1000+rng.IntN(1500)) * time.Millisecond)
		w.killAndRestart(t, 0, time.Duration(100+rng.IntN(400))*time.Millisecond)
	}
	time.Sleep(time.Second)
	stopLoad()
	wg.Wait()

	r := &report{t: t, t0: w.t0}
	checkAfter(t, w, l, r)
	r.print(l, w.kills())
	for _, v := range r.violations {
		t.Error(v)
	}
	if l.signins == 0 || len(l.live) == 0 || l.consentAcks[consentGranted] == 0 || len(l.revoked) == 0 {
		t.Errorf("the load acknowledged too little to prove anything: %d sign-ins, %d live refresh tokens, %d consents, %d revocations",
			l.signins, len(l.live), l.consentAcks[consentGranted], len(l.revoked))
	}
}
