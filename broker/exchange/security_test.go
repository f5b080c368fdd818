package exchange_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/internal/testsupport/brokertest"
	"github.com/gatehouse/gatehouse/providers/oidc"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

// refusedCase is a refused exchange: the error, nothing issued, nothing
// recorded as used.
func (fx *fixture) refuseAll(t *testing.T, cases map[string]func() result, status int, code string) {
	t.Helper()
	for name, do := range cases {
		t.Run(name, func(t *testing.T) {
			fx.t = t
			n, rows := fx.exchanged(), fx.replayRows()
			fx.refused(do(), status, code, n)
			if got := fx.replayRows(); got != rows {
				t.Fatalf("replay rows %d → %d: a refused exchange spent a token", rows, got)
			}
		})
	}
}

// TestASTX01_ForgedIDToken: a bad signature, alg none, HS256 keyed with the
// OP's public key, and a key the OP no longer publishes → invalid_grant.
func TestASTX01_ForgedIDToken(t *testing.T) {
	fx := newFixture(t)
	claims := func() map[string]any {
		c := fx.corp.Claims("")
		c["aud"] = cliApp
		return c
	}
	pub, err := x509.MarshalPKIXPublicKey(fx.corp.Keys()[0].Signer.Public())
	brokertest.Must(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	kid := fx.corp.Keys()[0].KID
	fx.refuseAll(t, map[string]func() result{
		"bad signature": func() result {
			other := providertest.NewRSAKey(kid) // same kid, another key
			return fx.exchange("cli", providertest.SignJWT(other, true, nil, claims()), typeID)
		},
		"alg none": func() result { return fx.exchange("cli", providertest.SignNone(claims()), typeID) },
		"HS256 with the OP's public key": func() result {
			return fx.exchange("cli", providertest.SignHS256(pubPEM, kid, claims()), typeID)
		},
		"payload swapped": func() result {
			good := fx.idToken(nil)
			c := claims()
			c["sub"] = "someone-else"
			forged := providertest.SignNone(c)
			return fx.exchange("cli", good[:indexOf(good, ".")]+forged[indexOf(forged, "."):len(forged)-1]+good[lastDot(good):], typeID)
		},
	}, http.StatusBadRequest, "invalid_grant")

	t.Run("signed by a rotated-out key", func(t *testing.T) {
		fx.t = t
		oldKey := fx.corp.Keys()[0]
		fx.ok(fx.exchange("cli", fx.idToken(nil), typeID)) // its key is cached
		fx.corp.SetKeys(providertest.NewRSAKey("k-new"))
		// The new key's first token, after the JWKS cooldown, makes Gatehouse
		// fetch the JWKS again, which no longer has the old key.
		fx.Clk.Add(oidc.DefaultJWKSCooldown + time.Second)
		fx.ok(fx.exchange("cli", fx.idToken(nil), typeID))
		fx.refused(fx.exchange("cli", providertest.SignJWT(oldKey, true, nil, claims()), typeID), http.StatusBadRequest, "invalid_grant",
			fx.exchanged())
	})
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// TestASTX02_UntrustedIssuer: an issuer Gatehouse does not know, one
// configured for sign-in only, and tokens for an audience the admin did not
// allow for exchange (the provider's own client ID included) → invalid_grant.
func TestASTX02_UntrustedIssuer(t *testing.T) {
	fx := newFixture(t)
	stranger := providertest.NewOIDCIssuer(providertest.OIDCOptions{ClientID: "gatehouse", Now: fx.Clk.Now, Claims: brokertest.AliceClaims()})
	t.Cleanup(stranger.Close)
	fx.refuseAll(t, map[string]func() result{
		"unknown issuer":                func() result { return fx.exchange("cli", signedIDToken(stranger, nil), typeID) },
		"issuer configured for login":   func() result { return fx.exchange("cli", signedIDToken(fx.login, nil), typeID) },
		"wrong audience for exchange":   func() result { return fx.exchange("cli", fx.idToken(map[string]any{"aud": "other-app"}), typeID) },
		"provider's own client ID":      func() result { return fx.exchange("cli", fx.idToken(map[string]any{"aud": "gatehouse"}), typeID) },
		"subject_issuer of another one": func() result { return fx.exchange("cli", fx.idToken(nil), typeID, "subject_issuer", "uni") },
	}, http.StatusBadRequest, "invalid_grant")
	fx.t = t
	fx.ok(fx.exchange("cli", fx.idToken(nil), typeID, "subject_issuer", "corp"))
}

// TestASTX04_ExpiredReplay: expired and not-yet-valid ID tokens are refused;
// with one-time use, a token exchanges once, and a refused exchange leaves it
// unspent.
func TestASTX04_ExpiredReplay(t *testing.T) {
	fx := newFixture(t, fixtureOpts{oneTime: true})
	now := fx.Clk.Now()
	fx.refuseAll(t, map[string]func() result{
		"expired": func() result {
			return fx.exchange("cli", fx.idToken(map[string]any{"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-10 * time.Minute).Unix()}), typeID)
		},
		"not yet valid": func() result {
			return fx.exchange("cli", fx.idToken(map[string]any{"nbf": now.Add(time.Hour).Unix(), "iat": now.Add(time.Hour).Unix()}), typeID)
		},
	}, http.StatusBadRequest, "invalid_grant")

	fx.t = t
	tok := fx.idToken(map[string]any{"jti": "id-1"})
	// A refusal after verification (a wider scope) spends nothing.
	fx.refused(fx.exchange("cli", tok, typeID, "scope", "admin"), http.StatusBadRequest, "invalid_scope", 0)
	if fx.replayRows() != 0 {
		t.Fatal("a refused exchange recorded the token")
	}
	fx.ok(fx.exchange("cli", tok, typeID))
	n := fx.exchanged()
	fx.refused(fx.exchange("cli", tok, typeID), http.StatusBadRequest, "invalid_grant", n)
	// Without a jti, the signed payload's hash.
	tok = fx.idToken(nil)
	fx.ok(fx.exchange("cli", tok, typeID))
	fx.refused(fx.exchange("cli", tok, typeID), http.StatusBadRequest, "invalid_grant", n+1)
}

// TestASTX05_TypeMismatch: the declared type must be the artefact's.
func TestASTX05_TypeMismatch(t *testing.T) {
	fx := newFixture(t)
	user := fx.userToken("web1", rs1, "read")
	fx.refuseAll(t, map[string]func() result{
		"ID token as access_token": func() result { return fx.exchange("svc1", fx.idToken(nil), typeAT) },
		"access token as id_token": func() result { return fx.exchange("cli", user, typeID) },
		"JWT as saml2":             func() result { return fx.exchange("cli", fx.idToken(nil), typeSAML) },
		"assertion as id_token":    func() result { return fx.exchange("cli", fx.assertion(), typeID) },
		"unknown type":             func() result { return fx.exchange("cli", fx.idToken(nil), "urn:ietf:params:oauth:token-type:jwt") },
		"ID token as actor": func() result {
			return fx.exchange("svc1", user, typeAT, "actor_token", fx.idToken(nil), "actor_token_type", typeAT)
		},
	}, http.StatusBadRequest, "invalid_request")
}

// TestASTX06_SAMLAssertion: a replayed assertion, one already used at the ACS,
// one for another provider's SP, one naming the ACS as Recipient, unsigned or
// expired → invalid_grant.
func TestASTX06_SAMLAssertion(t *testing.T) {
	fx := newFixture(t)
	now := fx.Clk.Now()
	used := fx.assertion(func(a *providertest.Assertion) { a.ID = "_used-at-acs" })
	// What the ACS records for an assertion it accepted: the same key.
	brokertest.Must(t, fx.DB.Replay().Remember(context.Background(), "saml:uni:_used-at-acs", now.Add(time.Hour), now))
	acs := fx.TS.URL + "/saml/uni/acs"
	fx.refuseAll(t, map[string]func() result{
		"already used at the ACS": func() result { return fx.exchange("cli", used, typeSAML) },
		"audience of another provider's SP": func() result {
			return fx.exchange("cli", fx.assertion(func(a *providertest.Assertion) { a.Audience = fx.TS.URL + "/saml/other/metadata" }), typeSAML)
		},
		"Recipient is the ACS": func() result {
			return fx.exchange("cli", fx.assertion(func(a *providertest.Assertion) { a.Recipient = acs }), typeSAML)
		},
		"expired": func() result {
			return fx.exchange("cli", fx.assertion(func(a *providertest.Assertion) {
				a.IssueInstant, a.NotBefore, a.NotOnOrAfter = now.Add(-time.Hour), now.Add(-time.Hour), now.Add(-30*time.Minute)
			}), typeSAML)
		},
		"unsigned": func() result {
			signed, _ := base64.RawURLEncoding.DecodeString(fx.assertion())
			start, end := indexOf(string(signed), "<ds:Signature"), indexOf(string(signed), "</ds:Signature>")
			if start < 0 || end < 0 {
				t.Fatalf("no signature in %s", signed)
			}
			raw := string(signed[:start]) + string(signed[end+len("</ds:Signature>"):])
			return fx.exchange("cli", base64.RawURLEncoding.EncodeToString([]byte(raw)), typeSAML)
		},
	}, http.StatusBadRequest, "invalid_grant")

	t.Run("replayed", func(t *testing.T) {
		fx.t = t
		tok := fx.assertion()
		fx.ok(fx.exchange("cli", tok, typeSAML))
		fx.refused(fx.exchange("cli", tok, typeSAML), http.StatusBadRequest, "invalid_grant", fx.exchanged())
	})
}

// TestASTX07_ScopeEscalation: a scope beyond the subject's, an API the user
// has no entitlement to, identity scopes, and targets that are no API the
// client may use.
func TestASTX07_ScopeEscalation(t *testing.T) {
	fx := newFixture(t)
	user := fx.userToken("web1", rs1, "read")
	fx.refuseAll(t, map[string]func() result{
		"wider than the subject token":   func() result { return fx.exchange("svc1", user, typeAT, "audience", rs1, "scope", "read write") },
		"role the user lacks (upstream)": func() result { return fx.exchange("cli", fx.idToken(nil), typeID, "scope", "admin") },
		"role the person lacks (SAML)":   func() result { return fx.exchange("cli", fx.assertion(), typeSAML, "scope", "payroll") },
		"identity scope":                 func() result { return fx.exchange("cli", fx.idToken(nil), typeID, "scope", "openid read") },
		"none grantable": func() result {
			// A token for RS1 holding only write, traded for RS2, which has only read.
			return fx.exchange("svc1", fx.userToken("web1", rs1, "write"), typeAT, "audience", rs2)
		},
	}, http.StatusBadRequest, "invalid_scope")
	fx.refuseAll(t, map[string]func() result{
		"unregistered API":           func() result { return fx.exchange("cli", fx.idToken(nil), typeID, "audience", "https://nope.test") },
		"API the client may not use": func() result { return fx.exchange("cli2", fx.assertion(), typeSAML, "audience", rs2) },
	}, http.StatusBadRequest, "invalid_target")
	// A role-restricted scope at another API: the roles of the subject
	// token's session decide (alice is staff); without a session it is not
	// grantable.
	fx.t = t
	_, cl := fx.ok(fx.exchange("svc2", fx.userToken("svc2", rs2, "read", "payroll"), typeAT, "audience", rs1, "scope", "payroll"))
	if cl.Scope != "payroll" {
		t.Fatalf("scope %q", cl.Scope)
	}
	noSession := fx.mint(token.AccessGrant{ClientID: "svc2", Subject: "alice", Audience: rs2, Scopes: []string{"read", "payroll"},
		GrantID: "g-ns"}, time.Hour)
	fx.refused(fx.exchange("svc2", noSession, typeAT, "audience", rs1, "scope", "payroll"), http.StatusBadRequest, "invalid_scope", fx.exchanged())
}

// TestASTX09_Client: a client without the grant, a public client, a token type
// or a provider the client was not given → unauthorized_client.
func TestASTX09_Client(t *testing.T) {
	fx := newFixture(t)
	fx.refuseAll(t, map[string]func() result{
		"client without the grant": func() result { return fx.exchange("nogrant", fx.idToken(nil), typeID) },
		"public client":            func() result { return fx.exchange("pub", fx.idToken(nil), typeID) },
		"provider not in its list": func() result { return fx.exchange("cli2", fx.idToken(nil), typeID) },
		"token type not its own":   func() result { return fx.exchange("svc1", fx.idToken(nil), typeID) },
	}, http.StatusBadRequest, "unauthorized_client")
}

// TestASDEL08_OtherClientsToken: a client trades only tokens issued to it or
// received as the resource server of their API; the actor is the caller itself.
func TestASDEL08_OtherClientsToken(t *testing.T) {
	fx := newFixture(t)
	web1 := fx.userToken("web1", rs1, "read")
	fx.refuseAll(t, map[string]func() result{
		"another client's token for another API": func() result { return fx.exchange("svc2", web1, typeAT, "audience", rs2) },
		"a client_credentials token as subject":  func() result { return fx.exchange("svc1", fx.clientToken("svc2"), typeAT) },
		"another client's actor token": func() result {
			return fx.exchange("svc1", web1, typeAT, "audience", rs2, "actor_token", fx.clientToken("svc2"), "actor_token_type", typeAT)
		},
		"a user token as actor": func() result {
			return fx.exchange("svc1", web1, typeAT, "audience", rs2, "actor_token", fx.userToken("svc1", rs1, "read"), "actor_token_type", typeAT)
		},
		"a revoked subject token": func() result {
			tok := fx.userToken("web1", rs1, "read")
			fx.call("web1", "/oauth2/revoke", map[string][]string{"token": {tok}})
			return fx.exchange("svc1", tok, typeAT, "audience", rs2)
		},
	}, http.StatusBadRequest, "invalid_grant")
}

// TestExchangeActorPolicy: may_act must name the actor (RFC 8693 §4.4), and the
// act chain is bounded (GATEHOUSE_EXCHANGE_MAX_ACTOR_DEPTH).
func TestExchangeActorPolicy(t *testing.T) {
	fx := newFixture(t, fixtureOpts{settings: map[string]string{"GATEHOUSE_EXCHANGE_MAX_ACTOR_DEPTH": "2"}})
	now := fx.Clk.Now()
	mayAct := func(sub, iss string) string {
		cl := token.NewAccess(fx.Cfg.Issuer.String(), token.AccessGrant{ClientID: "web1", Subject: "alice", Audience: rs1,
			Scopes: []string{"read"}, GrantID: "g-m"}, now, time.Hour)
		cl.MayAct = &token.Actor{Subject: sub, Issuer: iss}
		signer, err := fx.KeyManagers[0].Signer(context.Background())
		brokertest.Must(t, err)
		at, err := signer.Sign(cl, token.TypeAccess)
		brokertest.Must(t, err)
		return at
	}
	deep := fx.mint(token.AccessGrant{ClientID: "web1", Subject: "alice", Audience: rs1, Scopes: []string{"read"}, GrantID: "g-d",
		Act: &token.Actor{Subject: "svc2", Act: &token.Actor{Subject: "svc9"}}}, time.Hour)
	svc1 := fx.clientToken("svc1")
	fx.refuseAll(t, map[string]func() result{
		"may_act names another": func() result {
			return fx.exchange("svc1", mayAct("svc2", ""), typeAT, "audience", rs2, "actor_token", svc1, "actor_token_type", typeAT)
		},
		"may_act of another issuer": func() result {
			return fx.exchange("svc1", mayAct("svc1", "https://elsewhere.test"), typeAT, "audience", rs2, "actor_token", svc1, "actor_token_type", typeAT)
		},
		"a chain deeper than the bound": func() result {
			return fx.exchange("svc1", deep, typeAT, "audience", rs2, "actor_token", svc1, "actor_token_type", typeAT)
		},
	}, http.StatusBadRequest, "invalid_grant")
	fx.t = t
	// An upstream ID token's may_act claim (§4.4) binds the same way.
	cli := fx.clientToken("cli")
	fx.refused(fx.exchange("cli", fx.idToken(map[string]any{"may_act": map[string]any{"sub": "svc9"}}), typeID,
		"actor_token", cli, "actor_token_type", typeAT), http.StatusBadRequest, "invalid_grant", fx.exchanged())
	_, cl := fx.ok(fx.exchange("cli", fx.idToken(map[string]any{"may_act": map[string]any{"sub": "cli"}}), typeID,
		"actor_token", cli, "actor_token_type", typeAT))
	if cl.Act == nil || cl.Act.Subject != "cli" || cl.Act.Act != nil {
		t.Fatalf("act %+v", cl.Act)
	}
	fx.ok(fx.exchange("svc1", mayAct("svc1", fx.Cfg.Issuer.String()), typeAT, "audience", rs2, "actor_token", svc1, "actor_token_type", typeAT))
	fx.ok(fx.exchange("svc1", mayAct("svc2", ""), typeAT, "audience", rs2)) // may_act without an actor: not an error
	_, cl = fx.ok(fx.exchange("svc1", deep, typeAT, "audience", rs2))       // the chain kept as it is
	if cl.Act.Depth() != 2 {
		t.Fatalf("act %+v", cl.Act)
	}
}

// TestExchangeIdentity: a disabled user, an unlinked identity without and with
// create_users, and the email rules of a first sign-in.
func TestExchangeIdentity(t *testing.T) {
	t.Run("disabled user", func(t *testing.T) {
		fx := newFixture(t)
		_, err := fx.ops().DisableUser(context.Background(), operations.Actor{Name: "admin"}, "alice")
		brokertest.Must(t, err)
		fx.refused(fx.exchange("cli", fx.idToken(nil), typeID), http.StatusBadRequest, "invalid_grant", 0)
	})
	t.Run("unlinked, no create_users", func(t *testing.T) {
		fx := newFixture(t)
		users := fx.Users()
		fx.refused(fx.exchange("cli", fx.idToken(map[string]any{"sub": "bob-sub", "email": "bob@oidc.example"}), typeID),
			http.StatusBadRequest, "invalid_grant", 0)
		if fx.Users() != users || fx.Identities() != 2 {
			t.Fatal("a user or link was created")
		}
	})
	t.Run("unlinked, create_users", func(t *testing.T) {
		fx := newFixture(t, fixtureOpts{createUsers: true})
		users := fx.Users()
		_, cl := fx.ok(fx.exchange("cli", fx.idToken(map[string]any{"sub": "bob-sub", "email": "bob@oidc.example"}), typeID, "scope", "read"))
		if fx.Users() != users+1 || cl.Subject == "" || cl.Subject == "alice" {
			t.Fatalf("user not created: %+v", cl)
		}
		u, err := fx.DB.Identities().UserOf(context.Background(), "corp", "bob-sub")
		if err != nil || u.ID != cl.Subject {
			t.Fatalf("link: %v %v", u, err)
		}
		// The next exchange finds the link.
		_, cl2 := fx.ok(fx.exchange("cli", fx.idToken(map[string]any{"sub": "bob-sub", "email": "bob@oidc.example"}), typeID, "scope", "read"))
		if cl2.Subject != cl.Subject || fx.Users() != users+1 {
			t.Fatal("a second user")
		}
		// An email an account already has, from a provider that cannot vouch
		// for it: a browser sign-in must link it once.
		n := fx.exchanged()
		fx.refused(fx.exchange("cli", fx.idToken(map[string]any{"sub": "mallory-sub", "email": "alice@oidc.example", "email_verified": true}), typeID),
			http.StatusBadRequest, "invalid_grant", n)
		if fx.Users() != users+1 {
			t.Fatal("a user was created for a taken email")
		}
		// A scope refusal creates no user either.
		fx.refused(fx.exchange("cli", fx.idToken(map[string]any{"sub": "eve-sub", "email": "eve@oidc.example"}), typeID, "scope", "admin"),
			http.StatusBadRequest, "invalid_scope", n)
		if fx.Users() != users+1 {
			t.Fatal("a refused exchange created a user")
		}
	})
}
