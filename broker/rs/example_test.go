package rs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/broker/rs"
)

// An API protects its routes with the scopes they need; the handler reads who
// is calling from the request's context.
func ExampleVerifier_Require() {
	issuer, client, mint := exampleIssuer() // Gatehouse, for this example
	v, err := rs.New(context.Background(), rs.Config{
		Issuer:     issuer,                    // GATEHOUSE_ISSUER
		Audience:   "https://api.example.com", // the API's audience in Gatehouse
		HTTPClient: client,
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /notes", v.Require("notes.read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := rs.TokenFrom(r.Context())
		fmt.Fprintf(w, "notes of %s, read by %s", tok.Subject, tok.ClientID)
	})))

	for _, authz := range []string{"Bearer " + mint("notes.read"), "Bearer " + mint("profile"), ""} {
		r := httptest.NewRequest("GET", "https://api.example.com/notes", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			fmt.Println(w.Code, w.Body.String())
		} else {
			fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	// Output:
	// 200 notes of alice, read by notes-app
	// 403 Bearer error="insufficient_scope", error_description="the token lacks a scope this resource requires", scope="notes.read"
	// 401 Bearer
}

// exampleIssuer stands in for Gatehouse: discovery, a JWKS, and access tokens
// signed like Gatehouse's (RFC 9068).
func exampleIssuer() (issuer string, client *http.Client, mint func(scope string) string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	mux := http.NewServeMux()
	srv := httptest.NewTLSServer(mux)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/oauth2/jwks"})
	})
	mux.HandleFunc("/oauth2/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	})
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	return srv.URL, srv.Client(), func(scope string) string {
		now := time.Now()
		claims, _ := json.Marshal(map[string]any{"iss": srv.URL, "sub": "alice", "aud": "https://api.example.com",
			"client_id": "notes-app", "scope": scope, "jti": rand.Text(), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
		obj, _ := signer.Sign(claims)
		tok, _ := obj.CompactSerialize()
		return tok
	}
}
