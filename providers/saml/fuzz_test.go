package saml

import (
	"context"
	"encoding/base64"
	"testing"

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
