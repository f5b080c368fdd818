package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"
)

func certWith(t *testing.T, tmpl *x509.Certificate) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl.SerialNumber = big.NewInt(7)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSubjectMatches: RFC 8705 §2.1.2, the one registered value against the
// certificate, with the comparison rules of each kind and nothing looser.
func TestSubjectMatches(t *testing.T) {
	u, _ := url.Parse("spiffe://example.org/ward-app")
	cert := certWith(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "ward app, north", Organization: []string{"St Elsewhere"},
			OrganizationalUnit: []string{"IT"}, Country: []string{"GB"}},
		DNSNames: []string{"ward.example.com"}, URIs: []*url.URL{u},
		IPAddresses: []net.IP{net.ParseIP("2001:db8::7"), net.ParseIP("192.0.2.7")}, EmailAddresses: []string{"Ward.App@Example.com"},
	})
	tests := []struct {
		s    Subject
		want bool
	}{
		{Subject{DN: `CN=ward app\, north,OU=IT,O=St Elsewhere,C=GB`}, true},
		{Subject{DN: `cn=WARD  APP\2C north, ou=it, o=st elsewhere, c=gb`}, true}, // case and spaces: caseIgnoreMatch
		{Subject{DN: `2.5.4.3=ward app\, north,OU=IT,O=St Elsewhere,C=GB`}, true},
		{Subject{DN: `CN=ward app\, north,OU=IT,O=St Elsewhere`}, false},      // a prefix is not the DN
		{Subject{DN: `C=GB,O=St Elsewhere,OU=IT,CN=ward app\, north`}, false}, // reversed order
		{Subject{DN: `CN=ward app,OU=IT,O=St Elsewhere,C=GB`}, false},
		{Subject{DN: `CN=ward app\, north+OU=IT,O=St Elsewhere,C=GB`}, false},
		{Subject{DNS: "WARD.example.com"}, true},
		{Subject{DNS: "*.example.com"}, false},
		{Subject{DNS: "example.com"}, false},
		{Subject{URI: "spiffe://example.org/ward-app"}, true},
		{Subject{URI: "spiffe://example.org/ward-app/"}, false},
		{Subject{URI: "SPIFFE://example.org/ward-app"}, false},
		{Subject{IP: "2001:db8:0::7"}, true},
		{Subject{IP: "192.0.2.7"}, true},
		{Subject{IP: "192.0.2.8"}, false},
		{Subject{Email: "Ward.App@example.COM"}, true},
		{Subject{Email: "ward.app@example.com"}, false}, // the local part is case-sensitive
		{Subject{}, false},
	}
	for _, tt := range tests {
		if got := tt.s.Matches(cert); got != tt.want {
			t.Errorf("%+v: Matches = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestParseDN(t *testing.T) {
	got, err := ParseDN(`CN=a\+b\20 +UID=x, O=Q\"uote\\ ,DC=example`)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a+b ", "x"}, {`Q"uote\`}, {"example"}}
	if len(got) != len(want) {
		t.Fatalf("RDNs: %v", got)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("RDN %d: %v", i, got[i])
		}
		for j := range want[i] {
			if got[i][j].Value != want[i][j] {
				t.Errorf("RDN %d value %d = %q, want %q", i, j, got[i][j].Value, want[i][j])
			}
		}
	}
	if !got[0][1].Type.Equal(asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}) {
		t.Errorf("UID type: %v", got[0][1].Type)
	}
	for _, bad := range []string{"", "CN", "CN=", "XX=a", "CN=#0403616263", `CN=a\`, `CN=a\q`, "CN=a<b", "1.x=a", "CN=a,"} {
		if _, err := ParseDN(bad); err == nil {
			t.Errorf("ParseDN(%q) accepted", bad)
		}
	}
}

func TestSubjectProblem(t *testing.T) {
	for _, tt := range []struct {
		s  Subject
		ok bool
	}{
		{Subject{DN: "CN=app"}, true},
		{Subject{IP: "::1"}, true},
		{Subject{}, false},
		{Subject{DN: "CN=app", DNS: "app.example"}, false},
		{Subject{DN: "nonsense"}, false},
		{Subject{IP: "host.example"}, false},
	} {
		if got := tt.s.Problem() == nil; got != tt.ok {
			t.Errorf("%+v: Problem() = %v", tt.s, tt.s.Problem())
		}
	}
}

// TestProblemKinds: each refusal is a *Problem of its kind, carrying what was
// registered, whose English is the text the command line, the admin API and
// the logs have always given.
func TestProblemKinds(t *testing.T) {
	for _, tt := range []struct {
		s      Subject
		kind   ProblemKind
		detail string
		want   string
	}{
		{Subject{}, NotOneSubject, "", "tls_client_auth needs exactly one certificate subject: a subject DN, or a DNS, URI, IP or email SAN"},
		{Subject{DN: "CN=a", IP: "::1"}, NotOneSubject, "", "tls_client_auth needs exactly one certificate subject: a subject DN, or a DNS, URI, IP or email SAN"},
		{Subject{IP: "10.0.0.1%x"}, NotAnIP, "", `certificate IP SAN "10.0.0.1%x" is not an IP address`},
		{Subject{DN: "fleet"}, DNNoEquals, "", `subject DN "fleet": an attribute has no '='`},
		{Subject{DN: "CN=a,"}, DNNoEquals, "", `subject DN "CN=a,": an attribute has no '='`},
		{Subject{DN: "XX=a"}, DNUnknownType, "XX", `subject DN "XX=a": unknown attribute type "XX"`},
		{Subject{DN: "1.x=a"}, DNUnknownType, "1.x", `subject DN "1.x=a": unknown attribute type "1.x"`},
		{Subject{DN: "CN=#0403616263"}, DNHexValue, "", `subject DN "CN=#0403616263": #hex values are not supported`},
		{Subject{DN: `CN=a\`}, DNEndsWithBackslash, "", `subject DN "CN=a\\" ends with '\'`},
		{Subject{DN: `CN=a\q`}, DNBadEscape, "", `subject DN "CN=a\\q": bad escape`},
		{Subject{DN: "CN=a<b"}, DNUnescaped, "'<'", `subject DN "CN=a<b": '<' must be escaped`},
		{Subject{DN: "CN=a\x00b"}, DNUnescaped, `'\x00'`, `subject DN "CN=a\x00b": '\x00' must be escaped`},
		{Subject{DN: "CN= "}, DNNoValue, "CN", `subject DN "CN= ": CN has no value`},
	} {
		p := tt.s.Problem()
		if p == nil {
			t.Errorf("%+v: no problem", tt.s)
			continue
		}
		value := tt.s.DN + tt.s.IP
		if tt.kind == NotOneSubject {
			value = ""
		}
		if p.Kind != tt.kind || p.Value != value || p.Detail != tt.detail || p.Error() != tt.want {
			t.Errorf("%+v: %+v %q, want kind %d value %q detail %q: %q", tt.s, *p, p.Error(), tt.kind, value, tt.detail, tt.want)
		}
		if tt.s.DN != "" && tt.kind != NotOneSubject {
			var dp *Problem
			if _, err := ParseDN(tt.s.DN); !errors.As(err, &dp) || *dp != *p {
				t.Errorf("ParseDN(%q): %v, want the same *Problem", tt.s.DN, err)
			}
		}
	}
}

func FuzzParseDN(f *testing.F) {
	for _, s := range []string{`CN=a\+b\20 +UID=x, O=Q\"uote\\ ,DC=example`, "CN=app", "2.5.4.3=x;O=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rdns, err := ParseDN(s)
		if err == nil && len(rdns) == 0 {
			t.Fatal("no RDNs without an error")
		}
	})
}
