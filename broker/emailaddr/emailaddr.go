// Package emailaddr is the one canonical form in which Gatehouse compares email
// addresses and their domains: for linking identities, home-realm discovery and
// looking people up, so that two spellings of one address are never two people.
package emailaddr

import (
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Canonical returns email in the form it is compared in: surrounding space
// trimmed, Unicode NFC, lower-cased, and the domain in its ASCII (IDNA) form
// without a trailing dot. Local parts are case-folded too: RFC 5321 §2.4 lets a
// mail server tell cases apart, but no IdP we federate with issues two accounts
// that differ only in case, and treating them as two people is what let a
// differently-cased address slip past comparison. An address that is not
// user@domain is returned trimmed and lower-cased, so it still compares equal
// only to itself.
func Canonical(email string) string {
	e := strings.ToLower(norm.NFC.String(strings.TrimSpace(email)))
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 {
		return e
	}
	return e[:at+1] + CanonicalDomain(e[at+1:])
}

// CanonicalDomain returns an email domain in the form it is compared in:
// lower-case ASCII (IDNA), no trailing dot. A domain IDNA refuses is returned
// lower-cased as it is.
func CanonicalDomain(domain string) string {
	d := strings.TrimSuffix(strings.ToLower(norm.NFC.String(strings.TrimSpace(domain))), ".")
	if a, err := idna.Lookup.ToASCII(d); err == nil {
		d = a
	}
	return d
}

// Domain returns the canonical domain of email, or "" when it has none.
func Domain(email string) string {
	c := Canonical(email)
	at := strings.LastIndexByte(c, '@')
	if at <= 0 || at == len(c)-1 {
		return ""
	}
	return c[at+1:]
}
