package saml

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// FuzzSAMLResponse feeds arbitrary XML to the ACS entry point: no panic,
// and nothing but the seed's legitimate assertion may ever be accepted, and
// that with its replay key.
func FuzzSAMLResponse(f *testing.F) {
	e := newEnv(f)
	reqID, pending, _ := e.begin(f)
	good, _ := e.signedDoc(reqID).WriteToBytes()
	unsigned, _ := providertest.BuildResponse(e.response(reqID), e.evil(reqID)).WriteToBytes()
	noIssuer, _ := e.signedDoc(reqID, func(a *providertest.Assertion) { a.OmitIssuer = true }).WriteToBytes()
	for _, s := range [][]byte{good, unsigned, noIssuer, []byte("<samlp:Response/>"), []byte("<!DOCTYPE x><x/>"), {}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		id, err := e.p.Complete(context.Background(), post(base64.StdEncoding.EncodeToString(doc)), pending)
		if err == nil && (id.Subject != "mallory@corp.example" || len(id.ReplayKeys) != 1) {
			t.Fatalf("accepted %q with replay keys %v", id.Subject, id.ReplayKeys)
		}
	})
}

// BenchmarkComplete: ACS handling of a 2048-bit RSA-SHA256 signed response
// (structure checks, crewjam validation, mapping). Recording the replay key
// is the caller's, so one response serves every iteration.
func BenchmarkComplete(b *testing.B) {
	e := newEnv(b)
	reqID, pending, _ := e.begin(b)
	enc := providertest.Encode(e.signedDoc(reqID))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.p.Complete(ctx, post(enc), pending); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzVerifyToken feeds arbitrary base64url tokens to token exchange
// (RFC 7522 §2.1 encoding): no panic, and nothing but the seed's legitimate
// assertion may be accepted, with its replay key. The seeds run as regular
// tests.
func FuzzVerifyToken(f *testing.F) {
	e := newTokenEnv(f)
	good := e.signedToken()
	unsigned := tokenOf(providertest.BuildResponse(e.response(""), providertest.BuildAssertion(e.assertion(""))))
	forACS := tokenOf(e.signedDoc("", func(a *providertest.Assertion) { a.Recipient = acsURL }))
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	b64 := base64.RawURLEncoding.EncodeToString
	for _, s := range []string{
		good, unsigned, forACS, good + "==",
		b64(append(append([]byte{}, raw...), raw...)),
		b64(append([]byte(`<?xml version="1.0"?><!--c-->`), raw...)),
		b64([]byte(`<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/>`)),
		b64([]byte("<samlp:Response/>")), b64([]byte("<!DOCTYPE x><x/>")),
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", "", "====",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := e.p.VerifyToken(context.Background(), providers.TokenParams{Token: token, Recipient: tokenURL})
		if err == nil && (id.Subject != "mallory@corp.example" || len(id.ReplayKeys) != 1 || id.ReplayKeys[0].Key != "saml:idp-a:_a") {
			t.Fatalf("accepted %q with replay keys %v", id.Subject, id.ReplayKeys)
		}
		if err != nil && (id.Subject != "" || id.ReplayKeys != nil) {
			t.Fatalf("identity with error %v: %+v", err, id)
		}
	})
}
