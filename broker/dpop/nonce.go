package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Nonces issues and checks server nonces (RFC 9449 §8, §9) without state: a
// nonce is a time window's number with an HMAC over it, so every replica that
// holds the same keys accepts it, and nothing is stored. A nonce is good for
// the window it was issued in and the next one.
type Nonces struct {
	// Keys are HMAC keys, newest first: the first issues, all of them check
	// (key rotation).
	Keys [][]byte
	// Period is a window's length; zero means DefaultNoncePeriod.
	Period time.Duration
}

// DefaultNoncePeriod is a nonce window: a nonce lives 5 to 10 minutes.
const DefaultNoncePeriod = 5 * time.Minute

const nonceMACLen = 16

func (n *Nonces) window(now time.Time) uint64 {
	p := n.Period
	if p <= 0 {
		p = DefaultNoncePeriod
	}
	return uint64(now.Unix() / int64(p/time.Second))
}

func nonceMAC(key []byte, w uint64) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("gatehouse dpop nonce\x00"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], w)
	m.Write(b[:])
	return m.Sum(nil)[:nonceMACLen]
}

// Issue returns the nonce of now's window.
func (n *Nonces) Issue(now time.Time) string {
	w := n.window(now)
	b := binary.BigEndian.AppendUint64(nil, w)
	b = append(b, nonceMAC(n.Keys[0], w)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Valid reports whether nonce was issued, with any of the keys, in now's
// window or the one before.
func (n *Nonces) Valid(nonce string, now time.Time) bool {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 8+nonceMACLen {
		return false
	}
	w := binary.BigEndian.Uint64(b[:8])
	if cur := n.window(now); w != cur && w+1 != cur {
		return false
	}
	for _, k := range n.Keys {
		if hmac.Equal(b[8:], nonceMAC(k, w)) {
			return true
		}
	}
	return false
}
