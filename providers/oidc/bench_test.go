package oidc

import (
	"context"
	"testing"
)

// BenchmarkVerifyIDToken measures ID token verification with a cached JWKS
// (RS256, 2048-bit) plus the claim mapping: the CPU part of a callback.
func BenchmarkVerifyIDToken(b *testing.B) {
	e := newEnv(b, keys()[:1])
	ctx := context.Background()
	d, err := e.p.discovery(ctx)
	if err != nil {
		b.Fatal(err)
	}
	tok := e.iss.IDToken("n0nce", "")
	if _, err := e.p.verify(ctx, d, tok, "n0nce", []string{"gatehouse"}); err != nil { // warms the JWKS cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		idt, err := e.p.verify(ctx, d, tok, "n0nce", []string{"gatehouse"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.p.identity(idt.claims, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkComplete is a whole callback including the code exchange with
// the in-process OP over loopback HTTP (so it includes the OP's signing).
func BenchmarkComplete(b *testing.B) {
	e := newEnv(b, keys()[:1])
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r, pending := e.authorize(b)
		b.StartTimer()
		if _, err := e.p.Complete(ctx, r, pending); err != nil {
			b.Fatal(err)
		}
	}
}
