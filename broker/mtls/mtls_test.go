package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func selfSigned(t testing.TB, cn string) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
}

func header(c *x509.Certificate) string {
	return ":" + base64.StdEncoding.EncodeToString(c.Raw) + ":"
}

func TestThumbprint(t *testing.T) {
	c, _ := selfSigned(t, "app")
	sum := sha256.Sum256(c.Raw)
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if got := Thumbprint(c); got != want || len(got) != 43 {
		t.Fatalf("Thumbprint = %q, want %q (43 chars, unpadded base64url)", got, want)
	}
}

func TestCertificateFromHeader(t *testing.T) {
	c, _ := selfSigned(t, "app")
	src := Source{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}}
	tests := []struct {
		name    string
		remote  string
		values  []string
		want    bool
		wantErr bool
	}{
		{"trusted proxy", "10.1.2.3:4567", []string{header(c)}, true, false},
		{"trusted proxy, spaces", "10.1.2.3:4567", []string{"  " + header(c) + " "}, true, false},
		{"trusted proxy, unpadded", "10.1.2.3:4567", []string{":" + base64.RawStdEncoding.EncodeToString(c.Raw) + ":"}, true, false},
		{"trusted proxy, IPv4-mapped", "[::ffff:10.1.2.3]:4567", []string{header(c)}, true, false},
		{"trusted proxy, IPv6", "[2001:db8::1]:443", []string{header(c)}, true, false},
		{"untrusted peer ignored", "192.0.2.1:4567", []string{header(c)}, false, false},
		{"untrusted peer, garbage ignored", "192.0.2.1:4567", []string{"nonsense"}, false, false},
		{"unparseable peer ignored", "pipe", []string{header(c)}, false, false},
		{"no header", "10.1.2.3:4567", nil, false, false},
		{"not a byte sequence", "10.1.2.3:4567", []string{base64.StdEncoding.EncodeToString(c.Raw)}, false, true},
		{"PEM instead of sf-binary", "10.1.2.3:4567", []string{"-----BEGIN CERTIFICATE-----"}, false, true},
		{"url-safe alphabet", "10.1.2.3:4567", []string{":" + base64.URLEncoding.EncodeToString(append(c.Raw, 0xfb, 0xff)) + ":"}, false, true},
		{"empty", "10.1.2.3:4567", []string{"::"}, false, true},
		{"not DER", "10.1.2.3:4567", []string{":aGVsbG8=:"}, false, true},
		{"two lines", "10.1.2.3:4567", []string{header(c), header(c)}, false, true},
		{"parameters", "10.1.2.3:4567", []string{header(c) + ";a=1"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/oauth2/token", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.values {
				r.Header.Add("Client-Cert", v)
			}
			got, err := src.Certificate(r)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
			if (got != nil) != tt.want {
				t.Fatalf("certificate = %v, want one: %v", got != nil, tt.want)
			}
			if got != nil && !got.Equal(c) {
				t.Fatal("wrong certificate")
			}
		})
	}
}

// TestCertificateFromTLS runs a real TLS server that requests (but does not verify)
// client certificates, the way the mTLS listener does, and checks that the presented
// leaf is found and that it wins over a Client-Cert header, even from a trusted peer.
func TestCertificateFromTLS(t *testing.T) {
	clientCert, clientTLS := selfSigned(t, "app")
	other, _ := selfSigned(t, "forged")
	src := Source{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := src.Certificate(r)
		switch {
		case err != nil:
			http.Error(w, "error", http.StatusBadRequest)
		case c == nil:
			_, _ = io.WriteString(w, "none")
		default:
			_, _ = io.WriteString(w, Thumbprint(c))
		}
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()

	get := func(t *testing.T, certs []tls.Certificate, hdr string) string {
		t.Helper()
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = certs
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if hdr != "" {
			req.Header.Set("Client-Cert", hdr)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(t, []tls.Certificate{clientTLS}, ""); got != Thumbprint(clientCert) {
		t.Errorf("presented certificate: got %q", got)
	}
	if got := get(t, []tls.Certificate{clientTLS}, header(other)); got != Thumbprint(clientCert) {
		t.Errorf("TLS certificate must win over a header: got %q", got)
	}
	if got := get(t, nil, ""); got != "none" {
		t.Errorf("no certificate: got %q", got)
	}
}

func FuzzParseClientCert(f *testing.F) {
	c, _ := selfSigned(f, "app")
	f.Add(header(c))
	f.Add(":aGVsbG8=:")
	f.Add("::")
	f.Add(" :YQ: ")
	f.Add(":YQ==;a=1")
	f.Fuzz(func(t *testing.T, v string) {
		der, err := parseClientCert(v)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if len(der) == 0 {
			t.Fatal("empty byte sequence accepted")
		}
		// Whatever parses must re-encode to a value that parses to the same bytes.
		again, err := parseClientCert(":" + base64.StdEncoding.EncodeToString(der) + ":")
		if err != nil || string(again) != string(der) {
			t.Fatalf("round trip of %q failed: %v", v, err)
		}
		_, _ = x509.ParseCertificate(der)
	})
}
