package mtls

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/netip"
	"strconv"
	"strings"
)

// Subject is the one certificate subject value a tls_client_auth client registered
// (RFC 8705 §2.1.2): exactly one field is set.
type Subject struct {
	DN    string // tls_client_auth_subject_dn: an RFC 4514 string
	DNS   string // tls_client_auth_san_dns: a dNSName SAN
	URI   string // tls_client_auth_san_uri: a uniformResourceIdentifier SAN
	IP    string // tls_client_auth_san_ip: an iPAddress SAN, dotted decimal or RFC 5952
	Email string // tls_client_auth_san_email: an rfc822Name SAN
}

// Problem says what is wrong with a registered subject; nil when it is usable.
func (s Subject) Problem() *Problem {
	n := 0
	for _, v := range []string{s.DN, s.DNS, s.URI, s.IP, s.Email} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		// RFC 8705 §2.1.2: "exactly one of the below metadata parameters".
		return &Problem{Kind: NotOneSubject}
	}
	if s.DN != "" {
		if _, p := parseDN(s.DN); p != nil {
			return p
		}
	}
	if s.IP != "" {
		if _, err := netip.ParseAddr(s.IP); err != nil {
			return &Problem{Kind: NotAnIP, Value: s.IP}
		}
	}
	return nil
}

// Matches reports whether cert carries the registered value (RFC 8705 §2.1.2): the
// subject DN compared as RFC 4517 §4.2.15 distinguishedNameMatch does (RDN by RDN,
// attribute types by OID, values case-insensitive with insignificant spaces
// ignored as RFC 4518 §2.6.1 prepares them), a DNS name case-insensitively (RFC 4343),
// a URI exactly (RFC 3986 §6.2.1), an IP address as an address (so "::1" and
// "0::1" are one), an email address with only its domain case-insensitive (RFC
// 5321 §2.4). No wildcards, no partial matches.
func (s Subject) Matches(cert *x509.Certificate) bool {
	switch {
	case s.DN != "":
		return dnMatches(s.DN, cert)
	case s.DNS != "":
		want := strings.TrimSuffix(s.DNS, ".")
		for _, n := range cert.DNSNames {
			if strings.EqualFold(strings.TrimSuffix(n, "."), want) {
				return true
			}
		}
	case s.URI != "":
		for _, u := range cert.URIs {
			if u.String() == s.URI {
				return true
			}
		}
	case s.IP != "":
		want, err := netip.ParseAddr(s.IP)
		if err != nil {
			return false
		}
		for _, ip := range cert.IPAddresses {
			if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap() == want.Unmap() {
				return true
			}
		}
	case s.Email != "":
		wl, wd, ok := strings.Cut(s.Email, "@")
		for _, e := range cert.EmailAddresses {
			if l, d, ok2 := strings.Cut(e, "@"); ok && ok2 && l == wl && strings.EqualFold(d, wd) {
				return true
			}
		}
	}
	return false
}

// dnMatches compares the registered DN with the certificate's subject as encoded
// (RawSubject), not with Go's re-rendering of it.
func dnMatches(registered string, cert *x509.Certificate) bool {
	want, err := ParseDN(registered)
	if err != nil {
		return false
	}
	var got pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cert.RawSubject, &got); err != nil || len(rest) > 0 || len(got) != len(want) {
		return false
	}
	for i := range want {
		// RFC 4514 §2.1: the string lists the RDNs from the last to the first.
		if !rdnMatches(want[i], got[len(got)-1-i]) {
			return false
		}
	}
	return true
}

// rdnMatches compares two RDNs as sets of attribute type and value.
func rdnMatches(want, got pkix.RelativeDistinguishedNameSET) bool {
	if len(want) != len(got) {
		return false
	}
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for j, g := range got {
			gv, ok := g.Value.(string)
			if !used[j] && ok && w.Type.Equal(g.Type) && foldSpaces(w.Value.(string)) == foldSpaces(gv) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// foldSpaces prepares a value for caseIgnoreMatch: leading and trailing spaces
// dropped, inner runs of spaces as one (RFC 4518 §2.6.1), case folded.
func foldSpaces(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// attributeTypes are the RFC 4514 §3 short names, and the two more that
// certificates use often (RFC 5280 §4.1.2.6 serialNumber, PKCS #9 emailAddress).
var attributeTypes = map[string]asn1.ObjectIdentifier{
	"CN": {2, 5, 4, 3}, "L": {2, 5, 4, 7}, "ST": {2, 5, 4, 8}, "O": {2, 5, 4, 10}, "OU": {2, 5, 4, 11},
	"C": {2, 5, 4, 6}, "STREET": {2, 5, 4, 9}, "DC": {0, 9, 2342, 19200300, 100, 1, 25},
	"UID": {0, 9, 2342, 19200300, 100, 1, 1}, "SERIALNUMBER": {2, 5, 4, 5},
	"EMAILADDRESS": {1, 2, 840, 113549, 1, 9, 1},
}

// ParseDN parses an RFC 4514 distinguished name string into its RDNs, in the order
// the string lists them. Spaces around separators are tolerated (as RFC 4514 §4
// suggests implementations do); values in the #hex (BER) form are not accepted.
// Its error is a *Problem.
func ParseDN(s string) ([]pkix.RelativeDistinguishedNameSET, error) {
	rdns, p := parseDN(s)
	if p != nil {
		return nil, p
	}
	return rdns, nil
}

func parseDN(s string) ([]pkix.RelativeDistinguishedNameSET, *Problem) {
	var out []pkix.RelativeDistinguishedNameSET
	var rdn pkix.RelativeDistinguishedNameSET
	i := 0
	for {
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, &Problem{Kind: DNNoEquals, Value: s}
		}
		typ := strings.TrimSpace(s[i : i+eq])
		oid, ok := attributeType(typ)
		if !ok {
			return nil, &Problem{Kind: DNUnknownType, Value: s, Detail: typ}
		}
		i += eq + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) && s[i] == '#' {
			return nil, &Problem{Kind: DNHexValue, Value: s}
		}
		var v []byte
		keep := 0 // length of v up to its last escaped byte: escaped spaces stay
		for ; i < len(s) && s[i] != ',' && s[i] != '+' && s[i] != ';'; i++ {
			c := s[i]
			switch {
			case c == '\\':
				if i+1 >= len(s) {
					return nil, &Problem{Kind: DNEndsWithBackslash, Value: s}
				}
				if n := s[i+1]; strings.IndexByte(` "#+,;<=>\`, n) >= 0 {
					v = append(v, n)
					i++
				} else if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
					b, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
					v = append(v, byte(b))
					i += 2
				} else {
					return nil, &Problem{Kind: DNBadEscape, Value: s}
				}
				keep = len(v)
			case c == '"' || c == '<' || c == '>' || c == 0:
				return nil, &Problem{Kind: DNUnescaped, Value: s, Detail: strconv.QuoteRune(rune(c))}
			default:
				v = append(v, c)
			}
		}
		value := strings.TrimRight(string(v[keep:]), " ")
		value = string(v[:keep]) + value
		if value == "" {
			return nil, &Problem{Kind: DNNoValue, Value: s, Detail: typ}
		}
		rdn = append(rdn, pkix.AttributeTypeAndValue{Type: oid, Value: value})
		if i >= len(s) {
			out = append(out, rdn)
			return out, nil
		}
		if s[i] != '+' {
			out, rdn = append(out, rdn), nil
		}
		i++
	}
}

// attributeType is the OID of an attribute type: a short name, or a dotted OID.
func attributeType(t string) (asn1.ObjectIdentifier, bool) {
	if oid, ok := attributeTypes[strings.ToUpper(t)]; ok {
		return oid, true
	}
	parts := strings.Split(t, ".")
	if len(parts) < 2 {
		return nil, false
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || (len(p) > 1 && p[0] == '0') {
			return nil, false
		}
		oid[i] = n
	}
	return oid, true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
