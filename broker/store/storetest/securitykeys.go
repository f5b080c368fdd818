package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

func newSecurityKey(id, userID string) store.SecurityKey {
	return store.SecurityKey{ID: id, UserID: userID, CredentialID: []byte("cred-" + id), PublicKey: []byte("cose-" + id),
		AttestationFormat: "none", AAGUID: []byte("0123456789abcdef"), SignCount: 7, Transports: []string{"usb", "nfc"},
		Attachment: "cross-platform", BackupEligible: true, BackupState: true, UserVerified: true, Name: "Key " + id,
		CreatedAt: at(0)}
}

func testSecurityKeys(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("CreateGetList", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		k1, k2, k3 := newSecurityKey("k1", "u1"), newSecurityKey("k2", "u1"), newSecurityKey("k3", "u2")
		k2.CreatedAt, k2.AAGUID, k2.Transports, k2.BackupEligible, k2.BackupState = at(time.Minute), nil, nil, false, false
		for _, k := range []store.SecurityKey{k2, k1, k3} {
			must(t, "Create", s.SecurityKeys().Create(t.Context(), k))
		}
		got, err := s.SecurityKeys().ListForUser(t.Context(), "u1")
		must(t, "ListForUser", err)
		same(t, "u1's keys", got, []store.SecurityKey{k1, k2})
		one, err := s.SecurityKeys().GetByCredentialID(t.Context(), k3.CredentialID)
		must(t, "GetByCredentialID", err)
		same(t, "k3", one, k3)
		_, err = s.SecurityKeys().GetByCredentialID(t.Context(), []byte("nope"))
		wantErr(t, "GetByCredentialID", err, store.ErrNotFound)
	})
	t.Run("CreateTaken", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		must(t, "Create", s.SecurityKeys().Create(t.Context(), newSecurityKey("k1", "u1")))
		// The same credential ID registered to someone else: an authenticator's
		// credential belongs to one account.
		dup := newSecurityKey("k2", "u2")
		dup.CredentialID = []byte("cred-k1")
		wantErr(t, "Create", s.SecurityKeys().Create(t.Context(), dup), store.ErrConflict)
		wantErr(t, "Create unknown user", s.SecurityKeys().Create(t.Context(), newSecurityKey("k3", "nobody")), store.ErrNotFound)
	})
	t.Run("RecordUseAndClone", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		k := newSecurityKey("k1", "u1")
		must(t, "Create", s.SecurityKeys().Create(t.Context(), k))
		must(t, "RecordUse", s.SecurityKeys().RecordUse(t.Context(), "k1", 7, 8, false, at(time.Hour)))
		// A second use with the same previous counter lost the race.
		wantErr(t, "RecordUse stale", s.SecurityKeys().RecordUse(t.Context(), "k1", 7, 9, false, at(time.Hour)), store.ErrConflict)
		got, err := s.SecurityKeys().GetByCredentialID(t.Context(), k.CredentialID)
		must(t, "Get", err)
		k.SignCount, k.BackupState, k.LastUsedAt = 8, false, at(time.Hour)
		same(t, "used key", got, k)
		must(t, "FlagClone", s.SecurityKeys().FlagClone(t.Context(), "k1"))
		// A flagged key is not used again.
		wantErr(t, "RecordUse flagged", s.SecurityKeys().RecordUse(t.Context(), "k1", 8, 9, false, at(2*time.Hour)), store.ErrConflict)
		got, err = s.SecurityKeys().GetByCredentialID(t.Context(), k.CredentialID)
		must(t, "Get", err)
		k.CloneWarning = true
		same(t, "flagged key", got, k)
		wantErr(t, "FlagClone missing", s.SecurityKeys().FlagClone(t.Context(), "nope"), store.ErrNotFound)
	})
	t.Run("RenameDelete", func(t *testing.T) {
		s := open(t)
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		must(t, "Create", s.SecurityKeys().Create(t.Context(), newSecurityKey("k1", "u1")))
		must(t, "Create", s.SecurityKeys().Create(t.Context(), newSecurityKey("k2", "u1")))
		must(t, "Rename", s.SecurityKeys().Rename(t.Context(), "u1", "k1", "Blue key"))
		wantErr(t, "Rename someone else's", s.SecurityKeys().Rename(t.Context(), "u2", "k1", "mine"), store.ErrNotFound)
		wantErr(t, "Delete someone else's", s.SecurityKeys().Delete(t.Context(), "u2", "k1", false), store.ErrNotFound)
		must(t, "Delete", s.SecurityKeys().Delete(t.Context(), "u1", "k2", true))
		// The last key stays when one is required.
		wantErr(t, "Delete last", s.SecurityKeys().Delete(t.Context(), "u1", "k1", true), store.ErrConflict)
		got, err := s.SecurityKeys().ListForUser(t.Context(), "u1")
		must(t, "ListForUser", err)
		if len(got) != 1 || got[0].Name != "Blue key" {
			t.Fatalf("keys after the refused removal: %+v", got)
		}
		must(t, "Delete last, not required", s.SecurityKeys().Delete(t.Context(), "u1", "k1", false))
		wantErr(t, "Delete again", s.SecurityKeys().Delete(t.Context(), "u1", "k1", false), store.ErrNotFound)
	})
}

func testSessionStepUp(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	x := newSession("s1", "u1")
	must(t, "Create", s.Sessions().Create(t.Context(), x))
	must(t, "StepUp", s.Sessions().StepUp(t.Context(), "s1", []byte("new-hash"), "urn:acr", []string{"pwd", "hwk", "mfa"}))
	_, err := s.Sessions().GetByTokenHash(t.Context(), x.TokenHash)
	wantErr(t, "GetByTokenHash old", err, store.ErrNotFound)
	got, err := s.Sessions().GetByTokenHash(t.Context(), []byte("new-hash"))
	must(t, "GetByTokenHash new", err)
	x.TokenHash, x.ACR, x.AMR = []byte("new-hash"), "urn:acr", []string{"pwd", "hwk", "mfa"}
	same(t, "stepped-up session", got, x)
	wantErr(t, "StepUp missing", s.Sessions().StepUp(t.Context(), "nope", []byte("h"), "a", nil), store.ErrNotFound)
}
