package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKeyring(t testing.TB, keys ...[]byte) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestNewKeyringRejects(t *testing.T) {
	k := newKey(t)
	tests := []struct {
		name string
		keys [][]byte
		want string
	}{
		{"empty list", nil, "no master key"},
		{"short key", [][]byte{make([]byte, 31)}, "master key 1 is 31 bytes, want 32"},
		{"long key", [][]byte{k, make([]byte, 33)}, "master key 2 is 33 bytes, want 32"},
		{"nil key", [][]byte{nil}, "master key 1 is 0 bytes"},
		{"duplicate key", [][]byte{k, newKey(t), bytes.Clone(k)}, "master keys 1 and 3 are the same key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := NewKeyring(tt.keys...)
			if err == nil || kr != nil {
				t.Fatalf("NewKeyring = %v, %v; want an error", kr, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	kr := mustKeyring(t, newKey(t))
	for _, pt := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("secret"), 1000)} {
		for _, ad := range [][]byte{nil, []byte("kid-1")} {
			ct, err := kr.Seal(pt, ad)
			if err != nil {
				t.Fatal(err)
			}
			if len(ct) != overhead+len(pt) {
				t.Errorf("sealed length %d, want %d", len(ct), overhead+len(pt))
			}
			if len(pt) >= 8 && bytes.Contains(ct, pt) {
				t.Error("ciphertext contains the plaintext")
			}
			got, err := kr.Open(ct, ad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, pt) {
				t.Errorf("Open = %q, want %q", got, pt)
			}
			if kr.NeedsReseal(ct) {
				t.Error("NeedsReseal = true for a value sealed with the newest key")
			}
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	kr := mustKeyring(t, newKey(t))
	a, _ := kr.Seal([]byte("same"), nil)
	b, _ := kr.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal: nonce reused")
	}
}

func TestWrongAssociatedData(t *testing.T) {
	kr := mustKeyring(t, newKey(t))
	ct, err := kr.Seal([]byte("private key"), []byte("kid-a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ad := range [][]byte{nil, []byte("kid-b"), []byte("kid-a "), []byte("kid-")} {
		if pt, err := kr.Open(ct, ad); !errors.Is(err, ErrDecrypt) || pt != nil {
			t.Errorf("Open with AD %q = %q, %v; want ErrDecrypt", ad, pt, err)
		}
	}
}

func TestTamperEveryByte(t *testing.T) {
	kr := mustKeyring(t, newKey(t))
	ad := []byte("kid")
	ct, err := kr.Seal([]byte("sixteen byte msg"), ad)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(ct)
			bad[i] ^= flip
			pt, err := kr.Open(bad, ad)
			if pt != nil || err == nil {
				t.Fatalf("byte %d ^ %#x: Open succeeded", i, flip)
			}
			// Flipping a key-ID byte names a key we do not have; anything else is tampering.
			want := ErrDecrypt
			if i >= 1 && i < headerLen {
				want = ErrUnknownKey
			}
			if !errors.Is(err, want) {
				t.Fatalf("byte %d ^ %#x: error %v, want %v", i, flip, err, want)
			}
		}
	}
}

func TestTruncatedAndExtended(t *testing.T) {
	kr := mustKeyring(t, newKey(t))
	ct, err := kr.Seal([]byte("payload"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(ct); n++ {
		if _, err := kr.Open(ct[:n], nil); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Open(first %d bytes) error %v, want ErrDecrypt", n, err)
		}
	}
	if _, err := kr.Open(append(bytes.Clone(ct), 0), nil); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Open(extended) error %v, want ErrDecrypt", err)
	}
}

func TestUnknownKey(t *testing.T) {
	a, b := mustKeyring(t, newKey(t)), mustKeyring(t, newKey(t))
	ct, err := a.Seal([]byte("payload"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := b.Open(ct, []byte("ad"))
	if !errors.Is(err, ErrUnknownKey) || pt != nil {
		t.Fatalf("Open with another keyring = %q, %v; want ErrUnknownKey", pt, err)
	}
	if b.NeedsReseal(ct) {
		t.Error("NeedsReseal = true for a value of an unknown key")
	}
}

func TestRotation(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	before := mustKeyring(t, oldKey)
	ad := []byte("kid-7")
	oldCT, err := before.Seal([]byte("signing key"), ad)
	if err != nil {
		t.Fatal(err)
	}

	during := mustKeyring(t, newK, oldKey)
	if !during.NeedsReseal(oldCT) {
		t.Fatal("NeedsReseal = false for a value sealed with the older key")
	}
	pt, err := during.Open(oldCT, ad)
	if err != nil {
		t.Fatalf("Open old value with [new, old]: %v", err)
	}
	newCT, err := during.Seal(pt, ad)
	if err != nil {
		t.Fatal(err)
	}
	if during.NeedsReseal(newCT) {
		t.Error("NeedsReseal = true after resealing")
	}

	after := mustKeyring(t, newK)
	if got, err := after.Open(newCT, ad); err != nil || string(got) != "signing key" {
		t.Errorf("Open resealed value with [new] = %q, %v", got, err)
	}
	if _, err := after.Open(oldCT, ad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open old value with [new] error %v, want ErrUnknownKey", err)
	}
	if during.NeedsReseal([]byte("garbage")) {
		t.Error("NeedsReseal = true for malformed input")
	}
}

func TestErrorsAndStringsHideSecrets(t *testing.T) {
	key := newKey(t)
	kr := mustKeyring(t, key)
	secret := []byte("TOP-SECRET-PLAINTEXT")
	ct, _ := kr.Seal(secret, []byte("ad"))
	ct[len(ct)-1] ^= 1
	_, err := kr.Open(ct, []byte("ad"))
	texts := []string{err.Error(), fmt.Sprintf("%v", kr), fmt.Sprintf("%+v", kr), fmt.Sprintf("%#v", kr)}
	for _, s := range texts {
		for _, enc := range []string{string(key), base64.StdEncoding.EncodeToString(key), fmt.Sprintf("%x", key), fmt.Sprint(key), string(secret)} {
			if strings.Contains(s, enc) {
				t.Errorf("%q reveals secret material", s)
			}
		}
	}
}

func TestNewMasterKey(t *testing.T) {
	text, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewKeyring(key); err != nil {
		t.Fatal(err)
	}
}

// FuzzOpen checks that Open and NeedsReseal never panic and never accept input that
// Seal did not produce for this associated data. The seed corpus runs as a normal test.
func FuzzOpen(f *testing.F) {
	key := bytes.Repeat([]byte{7}, KeySize)
	kr := mustKeyring(f, key)
	valid, err := kr.Seal([]byte("hello"), []byte("ad"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, []byte("ad"))
	f.Add(valid, []byte("other"))
	f.Add(valid[:overhead-1], []byte("ad"))
	f.Add(valid[:headerLen], []byte(nil))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{version1}, []byte{})
	f.Add(append([]byte{2}, valid[1:]...), []byte("ad"))
	f.Add(bytes.Repeat([]byte{0xff}, overhead+5), []byte("ad"))
	f.Fuzz(func(t *testing.T, ct, ad []byte) {
		pt, err := kr.Open(ct, ad)
		_ = kr.NeedsReseal(ct)
		if err == nil {
			// Only a value this key sealed may open, with its own AD. (The fuzzing
			// workers rerun this setup with fresh nonces, so compare content, not bytes.)
			if !bytes.Equal(ad, []byte("ad")) || string(pt) != "hello" {
				t.Fatalf("Open accepted forged input %x (ad %q)", ct, ad)
			}
			return
		}
		if pt != nil {
			t.Fatal("Open returned plaintext with an error")
		}
		if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func BenchmarkSealOpen(b *testing.B) {
	kr := mustKeyring(b, newKey(b))
	pt := make([]byte, 256)
	ad := []byte("kid")
	b.ReportAllocs()
	for b.Loop() {
		ct, err := kr.Seal(pt, ad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := kr.Open(ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMAC: the keyed hash is deterministic for a key, differs between keys and
// between purposes, and follows the newest key of a keyring.
func TestMAC(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	a, _ := NewKeyring(k1)
	b, _ := NewKeyring(k2)
	ab, _ := NewKeyring(k1, k2)
	m := a.MAC("p", []byte("WDJBMJHT"))
	if len(m) != 32 || !bytes.Equal(m, a.MAC("p", []byte("WDJBMJHT"))) || !bytes.Equal(m, ab.MAC("p", []byte("WDJBMJHT"))) {
		t.Fatal("MAC is not a deterministic function of the newest key")
	}
	if bytes.Equal(m, b.MAC("p", []byte("WDJBMJHT"))) || bytes.Equal(m, a.MAC("q", []byte("WDJBMJHT"))) ||
		bytes.Equal(m, a.MAC("p", []byte("WDJBMJHX"))) {
		t.Fatal("MAC ignores the key, the purpose or the data")
	}
}
