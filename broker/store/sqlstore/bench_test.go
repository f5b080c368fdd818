package sqlstore

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

var benchNow = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

// benchHash returns a distinct 32-byte hash, the size of the SHA-256 hashes stored.
func benchHash(i int) []byte {
	h := make([]byte, 32)
	binary.BigEndian.PutUint64(h, uint64(i))
	return h
}

func benchBackends(b *testing.B, fn func(b *testing.B, db *DB)) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) { fn(b, openMigrated(b, be.url(b))) })
	}
}

func BenchmarkCodeCreateRedeem(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		i := 0
		for b.Loop() {
			i++
			c := store.AuthCode{CodeHash: benchHash(i), GrantID: "g", ClientID: "c", UserID: "u",
				Scopes: []string{"openid", "email"}, ExpiresAt: benchNow.Add(time.Minute)}
			if err := db.Codes().Create(b.Context(), c); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Codes().Redeem(b.Context(), c.CodeHash, benchNow); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The lookups run against 1,000 rows so the index, not a tiny table, is measured.
const benchRows = 1000

func BenchmarkRefreshGetByHash(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		for i := range benchRows {
			rt := store.RefreshToken{TokenHash: benchHash(i), FamilyID: fmt.Sprint("f", i), UserID: "u",
				Scopes: []string{"openid"}, ExpiresAt: benchNow.Add(time.Hour)}
			if err := db.RefreshTokens().Create(b.Context(), rt); err != nil {
				b.Fatal(err)
			}
		}
		i := 0
		for b.Loop() {
			i++
			if _, err := db.RefreshTokens().GetByHash(b.Context(), benchHash(i%benchRows)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSessionGetByTokenHash(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		for i := range benchRows {
			s := store.Session{ID: fmt.Sprint("s", i), TokenHash: benchHash(i), UserID: "u", AMR: []string{"pwd"},
				CreatedAt: benchNow, LastSeenAt: benchNow, ExpiresAt: benchNow.Add(time.Hour)}
			if err := db.Sessions().Create(b.Context(), s); err != nil {
				b.Fatal(err)
			}
		}
		i := 0
		for b.Loop() {
			i++
			if _, err := db.Sessions().GetByTokenHash(b.Context(), benchHash(i%benchRows)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkReplayRemember(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		i := 0
		for b.Loop() {
			i++
			if err := db.Replay().Remember(b.Context(), fmt.Sprint("jti-", i), benchNow.Add(time.Minute), benchNow); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAuditAppend50(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		events := make([]store.AuditEvent, 50)
		for i := range events {
			events[i] = store.AuditEvent{Time: benchNow, Actor: "alice", Action: "token.issue",
				Target: fmt.Sprint("client-", i), IP: "192.0.2.1", RequestID: fmt.Sprint("req-", i),
				Details: []byte(`{"scope":"openid"}`)}
		}
		for b.Loop() {
			if err := db.Audit().Append(b.Context(), events...); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchSignInUser creates the user u linked to the identity (p, s) and returns
// the identity as a login records it.
func benchSignInUser(b *testing.B, db *DB) store.Identity {
	u := store.User{ID: "u", Email: "u@example.com", CreatedAt: benchNow}
	id := store.Identity{ProviderID: "p", Subject: "s", UserID: "u", LinkedAt: benchNow, LastLoginAt: benchNow}
	if err := db.Identities().LinkNewUser(b.Context(), u, id); err != nil {
		b.Fatal(err)
	}
	return id
}

// benchSignIn returns the i-th login's session and replay keys: the flow's
// first, then the assertion's.
func benchSignIn(i int) (store.Session, []store.ReplayKey) {
	x := store.Session{ID: fmt.Sprint("s", i), TokenHash: benchHash(i), UserID: "u", ProviderID: "p", Subject: "s",
		AMR: []string{"pwd"}, CreatedAt: benchNow.Add(time.Duration(i)), LastSeenAt: benchNow,
		ExpiresAt: benchNow.Add(time.Hour), LogoutStateEnc: make([]byte, 300)}
	return x, []store.ReplayKey{{Key: fmt.Sprint("flow:", i), ExpiresAt: benchNow.Add(time.Hour)},
		{Key: fmt.Sprint("saml:p:", i), ExpiresAt: benchNow.Add(time.Hour)}}
}

// BenchmarkSignInWrites compares a returning user's SAML sign-in writes: the
// flow's and the assertion's replay keys, the login record and the session as
// four statements, and as one SignIns.Record transaction, with and without the
// per-user session cap. The user keeps 20 sessions (old ones are deleted
// outside the timer), each case on a fresh database.
func BenchmarkSignInWrites(b *testing.B) {
	for _, be := range backends {
		for _, mode := range []string{"separate", "one_transaction", "tx_no_cap"} {
			b.Run(be.name+"/"+mode, func(b *testing.B) {
				db := openMigrated(b, be.url(b))
				id := benchSignInUser(b, db)
				i := 0
				for b.Loop() {
					i++
					x, used := benchSignIn(i)
					var err error
					if mode == "separate" {
						for _, k := range used {
							if err == nil {
								err = db.Replay().Remember(b.Context(), k.Key, k.ExpiresAt, benchNow)
							}
						}
						if err == nil {
							err = db.Identities().RecordLogin(b.Context(), id)
						}
						if err == nil {
							err = db.Sessions().Create(b.Context(), x)
						}
					} else {
						max := 50
						if mode == "tx_no_cap" {
							max = 0
						}
						_, err = db.SignIns().Record(b.Context(), store.SignIn{Used: used, Session: x, Login: id, MaxPerUser: max})
					}
					if err != nil {
						b.Fatal(err)
					}
					if i > 20 {
						b.StopTimer()
						if err := db.Sessions().Delete(b.Context(), fmt.Sprint("s", i-20)); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
				}
			})
		}
	}
}

// BenchmarkSignInStore measures the store's part of a returning user's SAML
// sign-in, as the broker makes it: whether the flow is spent, the identity's
// user, and the sign-in transaction with the flow's and the assertion's keys,
// the login record, the session and the session cap. The user has no other
// session (the previous one is deleted outside the timer).
func BenchmarkSignInStore(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		id := benchSignInUser(b, db)
		i := 0
		for b.Loop() {
			i++
			x, used := benchSignIn(i)
			if spent, err := db.Replay().Used(b.Context(), used[0].Key, benchNow); err != nil || spent {
				b.Fatal(spent, err)
			}
			if _, err := db.Identities().UserOf(b.Context(), "p", "s"); err != nil {
				b.Fatal(err)
			}
			if _, err := db.SignIns().Record(b.Context(), store.SignIn{Used: used, Session: x, Login: id, MaxPerUser: 50}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := db.Sessions().Delete(b.Context(), x.ID); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}

// realisticRefresh is a refresh token shaped as the token endpoint stores one:
// a SHA-256 hash, random 22-character IDs, no delegation (as for most tokens),
// so that a benchmark's rows are as large as real ones.
func realisticRefresh(i int, created, expires time.Time) store.RefreshToken {
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
	id := func(salt byte) string { return base64.RawURLEncoding.EncodeToString(append(h[:15], salt))[:22] }
	return store.RefreshToken{TokenHash: h[:], FamilyID: id(1), GrantID: id(2), ClientID: fmt.Sprint("app-", i%10),
		UserID: fmt.Sprintf("user-%06d", i%5000), SessionID: id(3), Scopes: []string{"openid", "profile", "api.read"},
		Audience: "https://api.example.com", AuthTime: created, AMR: []string{"pwd"}, CreatedAt: created, ExpiresAt: expires}
}

// seedRefresh inserts tokens from..to-1 (realisticRefresh) in one transaction.
func seedRefresh(b *testing.B, db *DB, from, to int, created, expires time.Time) {
	b.Helper()
	tx, err := db.pool.BeginTx(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit: ErrTxDone
	insert, err := tx.PrepareContext(b.Context(), insertRefresh)
	if err != nil {
		b.Fatal(err)
	}
	rt := refreshTokens{db}
	for i := from; i < to; i++ {
		if _, err := insert.ExecContext(b.Context(), rt.insertArgs(realisticRefresh(i, created, expires))...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// writeVolume is how much the database has written to its log so far: on
// SQLite the frames (pages) in the WAL, after a checkpoint that truncated it
// (reset), on PostgreSQL the bytes of WAL. Unlike time, it does not depend on
// the load beside the benchmark.
func writeVolume(b *testing.B, db *DB, reset bool) float64 {
	b.Helper()
	var v float64
	var err error
	switch {
	case db.dialect != sqliteDialect:
		err = db.pool.QueryRowContext(b.Context(), `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8`).Scan(&v)
	case reset:
		_, err = db.pool.ExecContext(b.Context(), `PRAGMA wal_checkpoint(TRUNCATE)`)
	default:
		var busy, checkpointed int
		err = db.pool.QueryRowContext(b.Context(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &v, &checkpointed)
	}
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkRefreshSweep deletes expired refresh tokens with deleteExpired's
// batch (sweepBatch) in batches of 50 and of 1000 (its least and largest), beside
// 20,000 live tokens, and reports rows deleted per second (issue 14: a sweep
// batch costs its rows times the cost of deleting one row) and what deleting
// a row wrote: SQLite's pages (WAL frames) or PostgreSQL's WAL bytes. Each
// iteration first stores the batch's expired rows, off the clock.
func BenchmarkRefreshSweep(b *testing.B) {
	benchBackends(b, func(b *testing.B, db *DB) {
		const live = 20000
		seedRefresh(b, db, 0, live, benchNow, benchNow.Add(30*24*time.Hour))
		next := live
		for _, batch := range []int{sweepMinBatch, sweepBatch} {
			b.Run(fmt.Sprint("batch", batch), func(b *testing.B) {
				var written float64
				for range b.N {
					b.StopTimer()
					seedRefresh(b, db, next, next+batch, benchNow.Add(-48*time.Hour), benchNow.Add(-time.Hour))
					next += batch
					before := writeVolume(b, db, true)
					b.StartTimer()
					n, _, _, err := db.sweepBatch(b.Context(), "sweep", "refresh_tokens", "expires_at", batch, benchNow, time.Time{})
					b.StopTimer()
					if err != nil || n != int64(batch) {
						b.Fatalf("deleted %d, %v; want %d", n, err, batch)
					}
					written += writeVolume(b, db, false) - before
					b.StartTimer()
				}
				b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "rows/s")
				unit := "pages/row"
				if db.dialect != sqliteDialect {
					unit = "wal-bytes/row"
				}
				b.ReportMetric(written/float64(batch*b.N), unit)
			})
		}
	})
}
