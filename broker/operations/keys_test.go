package operations

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/keys"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
)

// TestKeyOperations: list makes sure keys exist; rotate creates a next key per
// algorithm; revoke deletes a key, refuses its tokens through the revocation list
// and names its replacement; each change records its event by the actor, and an
// unknown key is ErrNotFound with nothing changed.
func TestKeyOperations(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	ks, err := w.ops.ListKeys(ctx)
	if err != nil || len(ks) != 2 { // ES256 for access tokens, RS256 for ID tokens
		t.Fatalf("list: %v %+v", err, ks)
	}

	t.Run("rotate", func(t *testing.T) {
		next, err := w.ops.RotateKeys(ctx, admin)
		if err != nil || len(next) != 2 {
			t.Fatalf("rotate: %v %+v", err, next)
		}
		if evs := w.events("key.rotated"); len(evs) != 2 || evs[0].Actor != admin.Name {
			t.Errorf("key.rotated events: %+v", evs)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		var active store.SigningKey
		for _, k := range ks {
			if k.Algorithm == "ES256" {
				active = k
			}
		}
		res, err := w.ops.RevokeKey(ctx, admin, active.ID)
		if err != nil || res.Replacement == nil {
			t.Fatalf("revoke: %v %+v", err, res)
		}
		if d := w.audited(t, "key.revoked", active.ID); d["replacement"] != res.Replacement.ID || d["alg"] != "ES256" {
			t.Errorf("key.revoked details: %v", d)
		}
		if latest, _ := w.db.Revocations().Latest(ctx, []string{token.KeyRevocationKey(active.ID)}); latest.IsZero() {
			t.Error("no revocation entry for the key's tokens")
		}
	})

	t.Run("revoke unknown", func(t *testing.T) {
		before, keysBefore := w.auditTotal(), w.keyCount(t)
		_, err := w.ops.RevokeKey(ctx, admin, "no-such-kid")
		w.refused(t, err, ErrNotFound, before)
		if n := w.keyCount(t); n != keysBefore {
			t.Errorf("%d keys after a refused revoke, want %d", n, keysBefore)
		}
	})
}

func (w *world) keyCount(t *testing.T) int {
	t.Helper()
	ks, err := w.db.SigningKeys().List(t.Context())
	w.must(err)
	return len(ks)
}

// TestWatermark: everything issued before the watermark ends, and the change is
// recorded by the actor with what it ended.
func TestWatermark(t *testing.T) {
	w := newWorld(t)
	refresh, sessions, err := w.ops.Watermark(t.Context(), admin, w.now.Add(time.Second))
	if err != nil || refresh != 3 || sessions != 3 {
		t.Fatalf("watermark: %v, %d refresh tokens, %d sessions; want 3 and 3", err, refresh, sessions)
	}
	if d := w.audited(t, "watermark.applied", ""); d["sessions_ended"] != 3.0 {
		t.Errorf("details: %v", d)
	}
	if s, rt := w.live("s-bob"); s || rt {
		t.Error("a session from before the watermark survived")
	}
}

// TestResealKeys: after a master-key rotation, reseal re-encrypts every key under
// the new master key and records keys.resealed by the actor; run again, it
// changes nothing and records nothing.
func TestResealKeys(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	if _, err := w.ops.ListKeys(ctx); err != nil { // sealed under the first master key
		t.Fatal(err)
	}
	newKey := bytes.Repeat([]byte{7}, 32)
	ring, err := seal.NewKeyring(newKey, make([]byte, 32))
	w.must(err)
	w.ops.Keys, err = keys.NewManager(w.db.SigningKeys(), ring, keys.Options{Algorithm: keys.ES256, Now: w.ops.Now,
		Logger: slog.New(slog.DiscardHandler)})
	w.must(err)
	if n, err := w.ops.ResealKeys(ctx, admin); err != nil || n != 2 {
		t.Fatalf("reseal: %d, %v; want 2 keys", n, err)
	}
	if d := w.audited(t, "keys.resealed", ""); d["keys"] != 2.0 {
		t.Errorf("details: %v", d)
	}
	if n, err := w.ops.ResealKeys(ctx, admin); err != nil || n != 0 || len(w.events("keys.resealed")) != 1 {
		t.Errorf("reseal again: %d, %v", n, err)
	}
}
