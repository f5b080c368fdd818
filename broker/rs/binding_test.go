package rs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/dpop/dpoptest"
	"github.com/gatehouse/gatehouse/broker/mtls"
	"github.com/gatehouse/gatehouse/broker/rs"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
)

// boundToken is a token for RS1 bound to key (cnf.jkt, RFC 9449 §6.1), signed
// with Gatehouse's key as its token endpoint signs one issued with a proof.
func (e *env) boundToken(key *dpoptest.Key) string {
	return e.mint(func(c *token.AccessClaims) { c.Confirmation = &token.Confirmation{JKT: key.JKT} }, "at+jwt")
}

// TestDPoPBoundTokenNeedsItsProof: RFC 9449 §7.1 — a DPoP-bound token with a
// proof of its key for this request passes, and the handler sees the binding.
// Stolen without the key it is refused however it is replayed: as a Bearer
// token (§7.2), with no proof, with a proof of another key, for another URL or
// method, for another token (ath), with an old iat, or with a jti already used.
func TestDPoPBoundTokenNeedsItsProof(t *testing.T) {
	e := newEnv(t)
	key, thief := dpoptest.NewKey(t), dpoptest.NewKey(t)
	at := e.boundToken(key)
	now := e.clock.Now()
	proof := key.Proof(t, "GET", apiURL, now, dpoptest.WithAccessToken(at))
	tok := e.call("GET", apiURL, "DPoP "+at, "DPoP", proof).ok(t)
	if tok.Scheme != "DPoP" || tok.Confirmation == nil || tok.Confirmation.JKT != key.JKT {
		t.Fatalf("token %+v", tok)
	}

	other := e.boundToken(key)
	for name, r := range map[string]reply{
		"as Bearer":             e.call("GET", apiURL, "Bearer "+at),
		"as Bearer with proof":  e.call("GET", apiURL, "Bearer "+at, "DPoP", key.Proof(t, "GET", apiURL, now, dpoptest.WithAccessToken(at))),
		"no proof":              e.call("GET", apiURL, "DPoP "+at),
		"two proofs":            e.call("GET", apiURL, "DPoP "+at, "DPoP", key.Proof(t, "GET", apiURL, now, dpoptest.WithAccessToken(at)), "DPoP", key.Proof(t, "GET", apiURL, now, dpoptest.WithAccessToken(at))),
		"another key":           e.call("GET", apiURL, "DPoP "+at, "DPoP", thief.Proof(t, "GET", apiURL, now, dpoptest.WithAccessToken(at))),
		"another URL":           e.call("GET", apiURL, "DPoP "+at, "DPoP", key.Proof(t, "GET", "https://api1.test/other", now, dpoptest.WithAccessToken(at))),
		"another host":          e.call("GET", apiURL, "DPoP "+at, "DPoP", key.Proof(t, "GET", "https://api2.test/notes", now, dpoptest.WithAccessToken(at))),
		"another method":        e.call("GET", apiURL, "DPoP "+at, "DPoP", key.Proof(t, "POST", apiURL, now, dpoptest.WithAccessToken(at))),
		"another token's ath":   e.call("GET", apiURL, "DPoP "+at, "DPoP", key.Proof(t, "GET", apiURL, now, dpoptest.WithAccessToken(other))),
		"no ath":                e.call("GET", apiURL, "DPoP "+at, "DPoP", key.Proof(t, "GET", apiURL, now)),
		"old iat":               e.call("GET", apiURL, "DPoP "+at, "DPoP", key.Proof(t, "GET", apiURL, now.Add(-5*time.Minute), dpoptest.WithAccessToken(at))),
		"replayed jti":          e.call("GET", apiURL, "DPoP "+at, "DPoP", proof),
		"alg none":              e.call("GET", apiURL, "DPoP "+at, "DPoP", key.Proof(t, "GET", apiURL, now, dpoptest.WithAccessToken(at), dpoptest.WithHeader("alg", "none"))),
		"typ JWT":               e.call("GET", apiURL, "DPoP "+at, "DPoP", key.Proof(t, "GET", apiURL, now, dpoptest.WithAccessToken(at), dpoptest.WithHeader("typ", "JWT"))),
		"the token as a proof":  e.call("GET", apiURL, "DPoP "+at, "DPoP", at),
		"garbage proof":         e.call("GET", apiURL, "DPoP "+at, "DPoP", "x.y.z"),
		"bearer token as DPoP":  e.call("GET", apiURL, "DPoP "+e.clientToken("read"), "DPoP", key.Proof(t, "GET", apiURL, now)),
		"malformed DPoP header": e.call("GET", apiURL, "DPoP", "DPoP", proof),
	} {
		t.Run(name, func(t *testing.T) {
			switch name {
			case "as Bearer", "as Bearer with proof", "bearer token as DPoP":
				r.refused(t, 401, "DPoP", "invalid_token")
			case "malformed DPoP header":
				r.refused(t, 400, "DPoP", "invalid_request")
			default:
				r.refused(t, 401, "DPoP", "invalid_dpop_proof")
			}
		})
	}
	// The refusals recorded no jti: a fresh proof of the key still works once.
	fresh := key.Proof(t, "POST", apiURL, now, dpoptest.WithAccessToken(at))
	e.call("POST", apiURL, "DPoP "+at, "DPoP", fresh).refused(t, 403, "DPoP", "insufficient_scope")
	e.call("GET", apiURL, "DPoP "+at, "DPoP", key.Proof(t, "GET", apiURL, now, dpoptest.WithAccessToken(at))).ok(t)
}

// TestDPoPReplayCacheIsShared: a proof accepted by one replica of the API is
// refused by another sharing its ReplayCache (RFC 9449 §11.1).
func TestDPoPReplayCacheIsShared(t *testing.T) {
	shared := rs.NewMemoryReplayCache(0)
	e := newEnv(t, func(c *rs.Config) { c.Replay = shared })
	v2, err := rs.New(t.Context(), rs.Config{Issuer: e.srv.URL, Audience: brokertest.RS1, HTTPClient: e.srv.Client(), Replay: shared})
	brokertest.Must(t, err)
	key := dpoptest.NewKey(t)
	at := e.boundToken(key)
	proof := key.Proof(t, "GET", apiURL, time.Now(), dpoptest.WithAccessToken(at))
	e.call("GET", apiURL, "DPoP "+at, "DPoP", proof).ok(t)
	r := httptest.NewRequest("GET", apiURL, nil)
	r.Header.Set("Authorization", "DPoP "+at)
	r.Header.Set("DPoP", proof)
	if _, err := v2.Authenticate(r); err == nil || !strings.Contains(err.Error(), "invalid_dpop_proof") {
		t.Fatalf("the second replica accepted a replayed proof: %v", err)
	}
}

// TestDPoPBehindATrustedProxy: the proof signs the URL the client addressed;
// behind a TLS-terminating proxy (plain http to the API) that is the
// X-Forwarded-Proto and X-Forwarded-Host of the trusted proxy, and only of it.
func TestDPoPBehindATrustedProxy(t *testing.T) {
	e := newEnv(t, func(c *rs.Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} })
	key := dpoptest.NewKey(t)
	at := e.boundToken(key)
	send := func(remote string) int {
		r := httptest.NewRequest("GET", "http://10.0.0.5:8080/notes", nil)
		r.RemoteAddr = remote
		r.Header.Set("Authorization", "DPoP "+at)
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "api1.test")
		r.Header.Set("DPoP", key.Proof(t, "GET", apiURL, time.Now(), dpoptest.WithAccessToken(at)))
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, r)
		return w.Code
	}
	if c := send("192.0.2.1:4000"); c != 200 {
		t.Fatalf("through the trusted proxy: %d", c)
	}
	if c := send("198.51.100.7:4000"); c != 401 {
		t.Fatalf("forwarded headers of an untrusted peer believed: %d", c)
	}
}

// newCert is a self-signed client certificate (RFC 8705 §2.2 style).
func newCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	brokertest.Must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	brokertest.Must(t, err)
	leaf, err := x509.ParseCertificate(der)
	brokertest.Must(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: leaf}
}

// TestMTLSBoundTokenNeedsItsCertificate: RFC 8705 §3 over real TLS — a token
// bound to the client's certificate (cnf x5t#S256) passes over a connection
// presenting it, and is refused over one with another certificate or none;
// through a trusted proxy's RFC 9440 Client-Cert header the same, and the
// header from an untrusted address is ignored.
func TestMTLSBoundTokenNeedsItsCertificate(t *testing.T) {
	e := newEnv(t)
	mine, theirs := newCert(t, "app"), newCert(t, "thief")
	at := e.mint(func(c *token.AccessClaims) {
		c.Confirmation = &token.Confirmation{X5TS256: mtls.Thumbprint(mine.Leaf)}
	}, "at+jwt")

	api := httptest.NewUnstartedServer(e.api)
	api.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	api.StartTLS()
	defer api.Close()
	get := func(cert *tls.Certificate, authz string) *http.Response {
		tr := api.Client().Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		req, _ := http.NewRequest("GET", api.URL+"/notes", nil)
		req.Header.Set("Authorization", authz)
		res, err := (&http.Client{Transport: tr}).Do(req)
		brokertest.Must(t, err)
		res.Body.Close()
		return res
	}
	if res := get(&mine, "Bearer "+at); res.StatusCode != 200 {
		t.Fatalf("with its certificate: %d %q", res.StatusCode, res.Header.Values("WWW-Authenticate"))
	}
	for name, cert := range map[string]*tls.Certificate{"another certificate": &theirs, "no certificate": nil} {
		res := get(cert, "Bearer "+at)
		reply{Status: res.StatusCode, Header: res.Header}.refused(t, 401, "Bearer", "invalid_token")
		if !strings.Contains(res.Header.Get("WWW-Authenticate"), "client certificate") {
			t.Errorf("%s: challenge %q", name, res.Header.Get("WWW-Authenticate"))
		}
	}

	// Behind a TLS-terminating proxy at 127.0.0.1 (httptest's peer address).
	header := ":" + base64.StdEncoding.EncodeToString(mine.Leaf.Raw) + ":"
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		want    int
	}{
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, 200},
		{"untrusted address", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := rs.New(t.Context(), rs.Config{Issuer: e.srv.URL, Audience: brokertest.RS1, HTTPClient: e.srv.Client(),
				TrustedProxies: tc.trusted})
			brokertest.Must(t, err)
			plain := httptest.NewServer(v.Require("read")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
			defer plain.Close()
			req, _ := http.NewRequest("GET", plain.URL+"/notes", nil)
			req.Header.Set("Authorization", "Bearer "+at)
			req.Header.Set(mtls.HeaderName, header)
			res, err := plain.Client().Do(req)
			brokertest.Must(t, err)
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
}

// TestDPoPTokenFromTheTokenEndpoint: issue 15 "Tests prove that a stolen
// bearer-bound token replayed without the key is refused" end to end — svc
// gets a token at Gatehouse's real token endpoint with a DPoP proof (RFC 9449
// §5), bound to its key (token_type DPoP, cnf.jkt); the API accepts it with a
// proof of that key and refuses the same token replayed as Bearer or with a
// thief's proof.
func TestDPoPTokenFromTheTokenEndpoint(t *testing.T) {
	e := newEnv(t)
	key, thief := dpoptest.NewKey(t), dpoptest.NewKey(t)
	tokenURL := e.srv.URL + "/oauth2/token"
	req, _ := http.NewRequest("POST", tokenURL, strings.NewReader("grant_type=client_credentials&scope=read"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", e.fx.Secrets["svc"])
	req.Header.Set("DPoP", key.Proof(t, "POST", tokenURL, time.Now()))
	res, err := e.srv.Client().Do(req)
	brokertest.Must(t, err)
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	brokertest.Must(t, json.NewDecoder(res.Body).Decode(&out))
	res.Body.Close()
	if res.StatusCode != 200 || out.TokenType != "DPoP" {
		t.Fatalf("token endpoint: %d %+v", res.StatusCode, out)
	}
	at := out.AccessToken
	now := e.clock.Now()
	tok := e.call("GET", apiURL, "DPoP "+at, "DPoP", key.Proof(t, "GET", apiURL, now, dpoptest.WithAccessToken(at))).ok(t)
	if tok.Confirmation == nil || tok.Confirmation.JKT != key.JKT || tok.Subject != "svc" {
		t.Fatalf("token %+v", tok)
	}
	e.call("GET", apiURL, "Bearer "+at).refused(t, 401, "DPoP", "invalid_token")
	e.call("GET", apiURL, "DPoP "+at, "DPoP", thief.Proof(t, "GET", apiURL, now, dpoptest.WithAccessToken(at))).
		refused(t, 401, "DPoP", "invalid_dpop_proof")
}
