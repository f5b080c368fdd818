package saml

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	spEntity = "https://gatehouse.test/saml/idp-a/metadata"
	acsURL   = "https://gatehouse.test/saml/idp-a/acs"
)

type keyPair struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// Keys are generated once and never mutated.
var testKeys = sync.OnceValue(func() map[string]keyPair {
	m := map[string]keyPair{}
	for _, n := range []string{"idp", "idp2", "sp", "attacker"} {
		k, c := providertest.NewKeyPair(n, t0)
		m[n] = keyPair{k, c}
	}
	return m
})

var errAlreadyUsed = errors.New("already used")

// memReplay is a hand-written fake of the broker's replay cache (store.Replay).
type memReplay struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (r *memReplay) Remember(key string, expiresAt, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]time.Time{}
	}
	if exp, ok := r.m[key]; ok && now.Before(exp) {
		return errAlreadyUsed
	}
	r.m[key] = expiresAt
	return nil
}

type env struct {
	idp    *providertest.SAMLIdP
	p      *Provider
	replay *memReplay
	signer providertest.Signer
	// recipient is the SubjectConfirmationData Recipient of assertion():
	// the ACS URL, or the token endpoint for an exchange.
	recipient string
}

func newEnv(t testing.TB, mut ...func(*Config)) *env {
	t.Helper()
	k := testKeys()
	now := func() time.Time { return t0 }
	idp := providertest.NewSAMLIdP(now, k["idp"].key, k["idp"].cert, crewjam.Session{
		ID: "sess1", Index: "idx1", NameID: "alice@corp.example", NameIDFormat: string(crewjam.EmailAddressNameIDFormat),
		UserEmail: "alice@corp.example", UserCommonName: "Alice A", Groups: []string{"staff"},
		CreateTime: t0.Add(-time.Minute), ExpireTime: t0.Add(time.Hour)})
	t.Cleanup(idp.Close)
	md, err := ParseIdPMetadata(idp.Metadata(), MetadataOptions{AllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	replay := &memReplay{}
	cfg := Config{ID: "idp-a", EntityID: spEntity, ACSURL: acsURL, SLOURL: "https://gatehouse.test/saml/idp-a/slo",
		MetadataURL: spEntity, IdPMetadata: md, Key: k["sp"].key, Certificate: k["sp"].cert, Now: now}
	for _, m := range mut {
		m(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spMD, _, err := p.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.AddSP(spMD); err != nil {
		t.Fatal(err)
	}
	return &env{idp: idp, p: p, replay: replay, signer: providertest.Signer{Key: k["idp"].key, Cert: k["idp"].cert}, recipient: acsURL}
}

// begin starts a sign-in and returns the AuthnRequest ID and pending state.
func (e *env) begin(t testing.TB) (string, []byte, providers.Start) {
	t.Helper()
	s, err := e.p.Begin(context.Background(), providers.BeginParams{})
	if err != nil {
		t.Fatal(err)
	}
	var pd pending
	if err := json.Unmarshal(s.Pending, &pd); err != nil {
		t.Fatal(err)
	}
	return pd.RequestID, s.Pending, s
}

func (e *env) assertion(reqID string) providertest.Assertion {
	return providertest.Assertion{ID: "_a" + reqID, Issuer: e.idp.IdP.Metadata().EntityID, NameID: "mallory@corp.example",
		NameIDFormat: string(crewjam.EmailAddressNameIDFormat), Audience: spEntity, Recipient: e.recipient,
		InResponseTo: reqID, SessionIndex: "s1", IssueInstant: t0, NotBefore: t0.Add(-time.Minute),
		NotOnOrAfter: t0.Add(5 * time.Minute), Attributes: map[string][]string{"mail": {"mallory@corp.example"}}}
}

func (e *env) response(reqID string) providertest.Response {
	return providertest.Response{ID: "_r" + reqID, Issuer: e.idp.IdP.Metadata().EntityID, Destination: acsURL,
		InResponseTo: reqID, IssueInstant: t0}
}

// signedDoc builds a Response whose Assertion is signed.
func (e *env) signedDoc(reqID string, mut ...func(*providertest.Assertion)) *etree.Document {
	a := e.assertion(reqID)
	for _, m := range mut {
		m(&a)
	}
	return providertest.BuildResponse(e.response(reqID), e.signer.Sign(providertest.BuildAssertion(a)))
}

func post(encoded string) *http.Request {
	body := url.Values{"SAMLResponse": {encoded}}.Encode()
	r := httptest.NewRequest(http.MethodPost, acsURL, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// complete posts doc to the ACS and records the identity's replay keys.
func (e *env) complete(doc *etree.Document, pending []byte) (providers.Identity, error) {
	return e.use(e.p.Complete(context.Background(), post(providertest.Encode(doc)), pending))
}

// use records id's replay keys as the broker does: a key recorded before
// refuses the identity with ErrReplay. An accepted identity without a key
// fails the test's expectations too.
func (e *env) use(id providers.Identity, err error) (providers.Identity, error) {
	if err != nil {
		return id, err
	}
	if len(id.ReplayKeys) == 0 {
		return providers.Identity{}, errors.New("identity without replay keys")
	}
	for _, k := range id.ReplayKeys {
		if err := e.replay.Remember(k.Key, k.ExpiresAt, t0); err != nil {
			return providers.Identity{}, fmt.Errorf("%w: %w", providers.ErrReplay, err)
		}
	}
	return id, nil
}

func refused(t *testing.T, id providers.Identity, err error, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted: %+v", id)
	}
	t.Logf("refused: %v", err)
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if id.Subject != "" || id.Claims != nil {
		t.Fatalf("identity returned with error: %+v", id)
	}
}

func regexpReplace(s, pattern, repl string) string {
	return regexp.MustCompile(pattern).ReplaceAllString(s, repl)
}
