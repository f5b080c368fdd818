package oidc

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/providertest"
)

func TestRoundTrip(t *testing.T) {
	e := newEnv(t, keys()[:1], func(o *providertest.OIDCOptions, c *Config) {
		o.Claims["groups"] = []string{"eng"}
		o.Claims["amr"] = []string{"pwd", "hwk"}
		o.Claims["acr"] = "urn:gatehouse:loa:2"
	})
	r, pending := e.authorize(t)
	q := r.URL.Query()
	if q.Get("iss") != e.iss.URL() || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	id, err := e.p.Complete(context.Background(), r, pending)
	if err != nil {
		t.Fatal(err)
	}
	if id.ProviderID != "op-a" || id.Subject != "alice" || id.Email != "alice@corp.example" || !id.EmailVerified ||
		id.Name != "Alice" || len(id.Groups) != 1 || id.ACR != "urn:gatehouse:loa:2" || len(id.AMR) != 2 ||
		!id.AuthTime.Equal(t0.Add(-time.Minute)) || len(id.LogoutState) == 0 || id.Claims["iss"] != e.iss.URL() {
		t.Fatalf("identity %+v", id)
	}
}

func TestBeginParameters(t *testing.T) {
	e := newEnv(t, keys()[:1])
	s, err := e.p.Begin(context.Background(), providers.BeginParams{CallbackURL: callbackURL, LoginHint: "a@b",
		Extra: map[string]string{"prompt": "login", "acr_values": "mfa"}})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.RedirectURL)
	q := u.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": "gatehouse", "redirect_uri": callbackURL,
		"code_challenge_method": "S256", "login_hint": "a@b", "prompt": "login", "acr_values": "mfa", "scope": "openid email profile"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("state")) < 43 || len(q.Get("nonce")) < 43 || len(q.Get("code_challenge")) != 43 {
		t.Errorf("weak state/nonce/challenge: %v", q)
	}
	if _, err := e.p.Begin(context.Background(), providers.BeginParams{CallbackURL: callbackURL,
		Extra: map[string]string{"state": "x"}}); !errors.Is(err, providers.ErrConfig) {
		t.Errorf("reserved Extra accepted: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{Issuer: "http://op.example", SigningAlgs: []string{"HS256", "none"}, ClockSkew: time.Hour,
		AuthParams: map[string]string{"nonce": "x"}}.Validate()
	for _, want := range []string{"ID is required", "https", "oidc.client_id", "ClockSkew", `"HS256"`, `"none"`, `"nonce"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want mention of %s", err, want)
		}
	}
}

func TestUpstreamError(t *testing.T) {
	e := newEnv(t, keys()[:1])
	e.iss.Set(func(k *providertest.Knobs) {
		k.AuthorizeError, k.AuthorizeErrorDescription = "access_denied", "User <b>cancelled</b>\x00"
	})
	id, err := e.login(t)
	refused(t, id, err, providers.ErrUpstream)
	var up *providers.UpstreamError
	if !errors.As(err, &up) || up.Code != "access_denied" || up.Description != "User <b>cancelled</b>" || !up.AccessDenied() {
		t.Fatalf("upstream error %#v", up)
	}
	if e.iss.TokenHits.Load() != 0 {
		t.Error("token endpoint called after an error response")
	}
}

func TestOIDC01_State(t *testing.T) {
	e := newEnv(t, keys()[:1])
	for name, mutate := range map[string]func(q url.Values){
		"different": func(q url.Values) { q.Set("state", "attacker") },
		"missing":   func(q url.Values) { q.Del("state") },
		"repeated":  func(q url.Values) { q.Add("state", q.Get("state")) },
	} {
		t.Run(name, func(t *testing.T) {
			r, pending := e.authorize(t)
			q := r.URL.Query()
			mutate(q)
			r.URL.RawQuery = q.Encode()
			id, err := e.p.Complete(context.Background(), r, pending)
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
	t.Run("attacker's own pre-login state", func(t *testing.T) {
		victim, _ := e.authorize(t)
		_, attackerPending := e.authorize(t)
		id, err := e.p.Complete(context.Background(), victim, attackerPending)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
	t.Run("stale pending", func(t *testing.T) {
		r, pending := e.authorize(t)
		e.clock.Advance(DefaultPendingTTL + time.Second)
		id, err := e.p.Complete(context.Background(), r, pending)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
}

func TestOIDC02_Nonce(t *testing.T) {
	for name, v := range map[string]any{"absent": nil, "different": "other-nonce"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, keys()[:1])
			r, pending := e.authorize(t)
			e.iss.Set(func(k *providertest.Knobs) {
				k.Claims = map[string]any{"nonce": v}
				if v == nil {
					k.Claims = map[string]any{"nonce": nil}
				}
			})
			id, err := e.p.Complete(context.Background(), r, pending)
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
}

func TestOIDC03_AlgNone(t *testing.T) {
	e := newEnv(t, keys()[:1])
	e.iss.Set(func(k *providertest.Knobs) { k.Sign = providertest.SignNone })
	id, err := e.login(t)
	refused(t, id, err, providers.ErrInvalidResponse)
}

func TestOIDC04_HS256WithPublicKey(t *testing.T) {
	k := keys()[0]
	der, _ := x509.MarshalPKIXPublicKey(k.Signer.Public())
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwk, _ := json.Marshal(map[string]any{"keys": []any{}}) // placeholder replaced below
	e := newEnv(t, []*providertest.SigningKey{k})
	resp, err := http.Get(e.iss.URL() + "/jwks")
	if err == nil {
		var set struct{ Keys []json.RawMessage }
		_ = json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		jwk = set.Keys[0]
	}
	for name, secret := range map[string][]byte{"pem": pemKey, "jwk": jwk, "der": der} {
		t.Run(name, func(t *testing.T) {
			e.iss.Set(func(kn *providertest.Knobs) {
				kn.Sign = func(c map[string]any) string { return providertest.SignHS256(secret, "k1", c) }
			})
			id, err := e.login(t)
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
}

func TestOIDC05_BadSignature(t *testing.T) {
	for _, k := range []*providertest.SigningKey{keys()[0], keys()[2]} {
		t.Run(string(k.Alg), func(t *testing.T) {
			e := newEnv(t, []*providertest.SigningKey{k})
			e.iss.Set(func(kn *providertest.Knobs) {
				kn.Sign = func(c map[string]any) string {
					tok := providertest.SignJWT(k, true, nil, c)
					i := strings.LastIndexByte(tok, '.') + 5
					flip := byte('A')
					if tok[i] == 'A' {
						flip = 'B'
					}
					return tok[:i] + string(flip) + tok[i+1:]
				}
			})
			id, err := e.login(t)
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
	t.Run("ES256 positive control", func(t *testing.T) {
		e := newEnv(t, []*providertest.SigningKey{keys()[2]})
		if _, err := e.login(t); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOIDC06_WrongIss(t *testing.T) {
	e := newEnv(t, keys()[:1])
	for _, iss := range []string{e.iss.URL() + "/", "https://other.example", strings.Replace(e.iss.URL(), "http:", "https:", 1)} {
		t.Run(iss, func(t *testing.T) {
			e.iss.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"iss": iss} })
			id, err := e.login(t)
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
}

func TestOIDC07_Audience(t *testing.T) {
	e := newEnv(t, keys()[:1])
	for name, c := range map[string]map[string]any{
		"other":                     {"aud": "someone-else"},
		"missing":                   {"aud": nil},
		"extra audience, no azp":    {"aud": []string{"gatehouse", "evil"}},
		"extra audience, evil azp":  {"aud": []string{"gatehouse", "evil"}, "azp": "evil"},
		"single audience, evil azp": {"azp": "evil"},
	} {
		t.Run(name, func(t *testing.T) {
			e.iss.Set(func(k *providertest.Knobs) { k.Claims = c })
			id, err := e.login(t)
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
	t.Run("several audiences with our azp", func(t *testing.T) {
		e.iss.Set(func(k *providertest.Knobs) {
			k.Claims = map[string]any{"aud": []string{"gatehouse", "api"}, "azp": "gatehouse"}
		})
		if _, err := e.login(t); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOIDC09_Time(t *testing.T) {
	e := newEnv(t, keys()[:1])
	for name, c := range map[string]map[string]any{
		"expired beyond skew": {"exp": t0.Add(-DefaultClockSkew - time.Second).Unix()},
		"exp missing":         {"exp": nil},
		"iat missing":         {"iat": nil},
		"iat in the future":   {"iat": t0.Add(DefaultClockSkew + time.Minute).Unix()},
		"nbf in the future":   {"nbf": t0.Add(DefaultClockSkew + time.Minute).Unix()},
	} {
		t.Run(name, func(t *testing.T) {
			e.iss.Set(func(k *providertest.Knobs) { k.Claims = c })
			id, err := e.login(t)
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
	t.Run("expired within skew is accepted", func(t *testing.T) {
		e.iss.Set(func(k *providertest.Knobs) {
			k.Claims = map[string]any{"exp": t0.Add(-DefaultClockSkew + time.Second).Unix()}
		})
		if _, err := e.login(t); err != nil {
			t.Fatal(err)
		}
	})
}

// TestIDTokenClaimTypes: verify reads the registered claims from the decoded
// payload itself, so a claim of the wrong JSON type is a refusal, never a
// zero value that passes (iss "" ≠ issuer is caught anyway; exp as a string
// must not read as "no expiry").
func TestIDTokenClaimTypes(t *testing.T) {
	e := newEnv(t, keys()[:1])
	for name, c := range map[string]map[string]any{
		"iss a number":       {"iss": 5},
		"aud an object":      {"aud": map[string]any{"gatehouse": true}},
		"aud holds a number": {"aud": []any{"gatehouse", 5}},
		"aud missing":        {"aud": nil},
		"exp a string":       {"exp": "4102444800"},
		"iat a string":       {"iat": "1700000000"},
		"nbf a string":       {"nbf": "1700000000"},
		"sub a number":       {"sub": 42},
		"nonce a number":     {"nonce": 7},
		"at_hash a number":   {"at_hash": 7},
		"azp a number":       {"azp": 7},
	} {
		t.Run(name, func(t *testing.T) {
			e.iss.Set(func(k *providertest.Knobs) { k.Claims = c })
			id, err := e.login(t)
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
	t.Run("fractional NumericDate accepted", func(t *testing.T) {
		e.iss.Set(func(k *providertest.Knobs) {
			k.Claims = map[string]any{"exp": float64(t0.Add(time.Hour).Unix()) + 0.5, "iat": float64(t0.Unix()) - 0.25}
		})
		if _, err := e.login(t); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOIDC10_Sub(t *testing.T) {
	for name, c := range map[string]map[string]any{"missing": {"sub": nil}, "empty": {"sub": ""}} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, keys()[:1])
			e.iss.Set(func(k *providertest.Knobs) { k.Claims = c })
			id, err := e.login(t)
			refused(t, id, err, providers.ErrInvalidResponse)
		})
	}
	t.Run("userinfo sub differs", func(t *testing.T) {
		e := newEnv(t, keys()[:1], func(_ *providertest.OIDCOptions, c *Config) { c.UserinfoMerge = true })
		e.iss.Set(func(k *providertest.Knobs) { k.UserinfoClaims = map[string]any{"sub": "mallory"} })
		id, err := e.login(t)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
	t.Run("userinfo merge adds claims, ID token wins", func(t *testing.T) {
		e := newEnv(t, keys()[:1], func(_ *providertest.OIDCOptions, c *Config) { c.UserinfoMerge = true })
		e.iss.Set(func(k *providertest.Knobs) {
			k.UserinfoClaims = map[string]any{"groups": []string{"ops"}, "email": "evil@x.example"}
		})
		id, err := e.login(t)
		if err != nil || id.Email != "alice@corp.example" || len(id.Groups) != 1 || id.Groups[0] != "ops" {
			t.Fatalf("%+v %v", id, err)
		}
	})
}

func TestOIDC14_AtHash(t *testing.T) {
	e := newEnv(t, keys()[:1])
	e.iss.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"} })
	id, err := e.login(t)
	refused(t, id, err, providers.ErrInvalidResponse)
}

func TestOIDC15_DiscoveryIssuerMismatch(t *testing.T) {
	e := newEnv(t, keys()[:1])
	e.iss.Set(func(k *providertest.Knobs) { k.DiscoveryIssuer = "https://evil.example" })
	_, err := e.p.Begin(context.Background(), providers.BeginParams{CallbackURL: callbackURL})
	if err == nil {
		t.Fatal("discovery with another issuer accepted")
	}
}

func TestOIDC16_MixUp(t *testing.T) {
	t.Run("iss parameter of another provider", func(t *testing.T) {
		e := newEnv(t, keys()[:1])
		e.iss.Set(func(k *providertest.Knobs) { k.IssParameter = "https://op-b.example" })
		id, err := e.login(t)
		refused(t, id, err, providers.ErrInvalidResponse)
		if e.iss.TokenHits.Load() != 0 {
			t.Error("code redeemed despite iss mismatch")
		}
	})
	t.Run("iss missing while advertised", func(t *testing.T) {
		e := newEnv(t, keys()[:1], func(o *providertest.OIDCOptions, _ *Config) { o.AdvertiseIssParameter = true })
		e.iss.Set(func(k *providertest.Knobs) { k.OmitIssParameter = true })
		id, err := e.login(t)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
	t.Run("iss missing, not advertised, accepted", func(t *testing.T) {
		e := newEnv(t, keys()[:1])
		e.iss.Set(func(k *providertest.Knobs) { k.OmitIssParameter = true })
		if _, err := e.login(t); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("flow of provider B completed at provider A", func(t *testing.T) {
		a := newEnv(t, keys()[:1])
		b := newEnv(t, keys()[:1], func(_ *providertest.OIDCOptions, c *Config) { c.ID = "op-b" })
		r, pendingB := b.authorize(t)
		id, err := a.p.Complete(context.Background(), r, pendingB)
		refused(t, id, err, providers.ErrInvalidResponse)
	})
}

func TestOIDC17_CodeInjection(t *testing.T) {
	e := newEnv(t, keys()[:1])
	victim, _ := e.authorize(t)
	attacker, attackerPending := e.authorize(t)
	// The attacker's callback with the victim's code: state matches the
	// attacker's own flow, but the PKCE verifier is the attacker's.
	q := attacker.URL.Query()
	q.Set("code", victim.URL.Query().Get("code"))
	attacker.URL.RawQuery = q.Encode()
	id, err := e.p.Complete(context.Background(), attacker, attackerPending)
	refused(t, id, err, providers.ErrInvalidResponse)
}

func TestCodeReplay(t *testing.T) {
	e := newEnv(t, keys()[:1])
	r, pending := e.authorize(t)
	if _, err := e.p.Complete(context.Background(), r, pending); err != nil {
		t.Fatal(err)
	}
	r2 := httptest.NewRequest(http.MethodGet, r.URL.String(), nil)
	id, err := e.p.Complete(context.Background(), r2, pending)
	refused(t, id, err, providers.ErrInvalidResponse)
}

func TestVerifyToken(t *testing.T) {
	e := newEnv(t, keys()[:1])
	good := e.iss.IDToken("", "")
	id, err := e.p.VerifyToken(context.Background(), providers.TokenParams{Token: good, Audiences: []string{"gatehouse"}})
	if err != nil || id.Subject != "alice" {
		t.Fatalf("%+v %v", id, err)
	}
	e.iss.Set(func(k *providertest.Knobs) { k.Claims = map[string]any{"aud": "other-client"} })
	id, err = e.p.VerifyToken(context.Background(), providers.TokenParams{Token: e.iss.IDToken("", ""), Audiences: []string{"gatehouse"}})
	refused(t, id, err, providers.ErrInvalidResponse)
}

func TestLogout(t *testing.T) {
	e := newEnv(t, keys()[:1])
	id, err := e.login(t)
	if err != nil {
		t.Fatal(err)
	}
	s, ok, err := e.p.BeginLogout(context.Background(), providers.LogoutParams{LogoutState: id.LogoutState, ReturnURL: "https://gatehouse.test/logged-out"})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	u, _ := url.Parse(s.RedirectURL)
	q := u.Query()
	if u.Path != "/logout" || q.Get("id_token_hint") != string(id.LogoutState) || q.Get("post_logout_redirect_uri") == "" {
		t.Fatalf("logout URL %s", s.RedirectURL)
	}
	back := httptest.NewRequest(http.MethodGet, "https://gatehouse.test/logged-out?state="+q.Get("state"), nil)
	if err := e.p.CompleteLogout(context.Background(), back, s.Pending); err != nil {
		t.Fatal(err)
	}
	forged := httptest.NewRequest(http.MethodGet, "https://gatehouse.test/logged-out?state=x", nil)
	if err := e.p.CompleteLogout(context.Background(), forged, s.Pending); !errors.Is(err, providers.ErrInvalidResponse) {
		t.Fatal(err)
	}
}

// TestOIDC25_BeginAsksForReauthentication: Reauthenticate is prompt=login with
// max_age=0 (OIDC Core §3.1.2.1), SelectAccount joins the prompt, ACRValues are
// acr_values; the typed fields win over Extra.
func TestOIDC25_BeginAsksForReauthentication(t *testing.T) {
	e := newEnv(t, keys()[:1])
	s, err := e.p.Begin(context.Background(), providers.BeginParams{CallbackURL: callbackURL, Reauthenticate: true,
		SelectAccount: true, ACRValues: []string{"urn:mfa", "urn:pwd"}, Extra: map[string]string{"prompt": "none"}})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.RedirectURL)
	q := u.Query()
	for k, want := range map[string]string{"prompt": "login select_account", "max_age": "0", "acr_values": "urn:mfa urn:pwd"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	s, err = e.p.Begin(context.Background(), providers.BeginParams{CallbackURL: callbackURL})
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(s.RedirectURL)
	for _, k := range []string{"prompt", "max_age", "acr_values"} {
		if u.Query().Has(k) {
			t.Errorf("%s sent without being asked for", k)
		}
	}
}
