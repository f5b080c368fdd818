package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/providers"
)

// Provider is one upstream OpenID Provider.
type Provider struct {
	cfg  Config
	disc discoveryCache
}

var (
	_ providers.Provider       = (*Provider)(nil)
	_ providers.LogoutProvider = (*Provider)(nil)
	_ providers.TokenVerifier  = (*Provider)(nil)
)

// New validates cfg and returns a provider. Discovery happens lazily on first
// use (and is refreshed), so an OP that is down does not stop the broker.
func New(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Provider{cfg: cfg}, nil
}

// ID implements providers.Provider.
func (p *Provider) ID() string { return p.cfg.ID }

// pending is what Begin hands the broker to keep until Complete.
type pending struct {
	Kind        string `json:"k"`
	ProviderID  string `json:"p"`
	Issuer      string `json:"i"`
	State       string `json:"s"`
	Nonce       string `json:"n"`
	Verifier    string `json:"v"`
	RedirectURI string `json:"r"`
	Created     int64  `json:"t"`
}

const pendingKind = "oidc"

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Begin implements providers.Provider: an authorization request with PKCE
// S256 (RFC 7636 §4.2), a fresh state (RFC 6749 §10.12) and nonce (OIDC
// Core §3.1.2.1).
func (p *Provider) Begin(ctx context.Context, bp providers.BeginParams) (providers.Start, error) {
	cb, err := url.Parse(bp.CallbackURL)
	if err != nil || !cb.IsAbs() || cb.Fragment != "" {
		return providers.Start{}, fmt.Errorf("%w: callback URL %q", providers.ErrConfig, bp.CallbackURL)
	}
	d, err := p.discovery(ctx)
	if err != nil {
		return providers.Start{}, err
	}
	pd := pending{
		Kind: pendingKind, ProviderID: p.cfg.ID, Issuer: p.cfg.Issuer,
		State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(),
		RedirectURI: bp.CallbackURL, Created: p.cfg.Now().Unix(),
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(pd.Verifier), gooidc.Nonce(pd.Nonce)}
	for k, v := range p.cfg.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	for k, v := range bp.Extra {
		if slices.Contains(reservedParams, k) {
			return providers.Start{}, fmt.Errorf("%w: parameter %q is reserved", providers.ErrConfig, k)
		}
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	if bp.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", bp.LoginHint))
	}
	var prompt []string
	if bp.Reauthenticate {
		// OIDC Core §3.1.2.1: prompt=login asks for a new authentication;
		// max_age=0 also makes the OP return auth_time, which the broker
		// checks, since an OP may ignore prompt.
		prompt = append(prompt, "login")
		opts = append(opts, oauth2.SetAuthURLParam("max_age", "0"))
	}
	if bp.SelectAccount {
		prompt = append(prompt, "select_account")
	}
	if len(prompt) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", strings.Join(prompt, " ")))
	}
	if len(bp.ACRValues) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", strings.Join(bp.ACRValues, " ")))
	}
	oc := d.oauth2
	oc.RedirectURL = bp.CallbackURL
	raw, err := json.Marshal(pd)
	if err != nil {
		return providers.Start{}, err
	}
	return providers.Start{RedirectURL: oc.AuthCodeURL(pd.State, opts...), Pending: raw}, nil
}

func (p *Provider) decodePending(raw []byte) (pending, error) {
	var pd pending
	if err := json.Unmarshal(raw, &pd); err != nil || pd.Kind != pendingKind {
		return pending{}, providers.Invalid("pending state unreadable")
	}
	// A flow started for another provider must not complete here (mix-up,
	// RFC 9700 §4.4.2: per-OP redirect URIs and the issuer in the state).
	if pd.ProviderID != p.cfg.ID || pd.Issuer != p.cfg.Issuer {
		return pending{}, providers.Invalid("pending state belongs to provider %q", pd.ProviderID)
	}
	age := p.cfg.Now().Sub(time.Unix(pd.Created, 0))
	if age > p.cfg.PendingTTL || age < -p.cfg.ClockSkew {
		return pending{}, providers.Invalid("sign-in started %s ago", age)
	}
	return pd, nil
}

// Complete implements providers.Provider for the redirect back from the OP.
func (p *Provider) Complete(ctx context.Context, r *http.Request, rawPending []byte) (providers.Identity, error) {
	pd, err := p.decodePending(rawPending)
	if err != nil {
		return providers.Identity{}, err
	}
	values, err := callbackValues(r)
	if err != nil {
		return providers.Identity{}, err
	}
	cb, err := parseCallback(values)
	if err != nil {
		return providers.Identity{}, err
	}
	// RFC 6749 §10.12 / OIDC Core §3.1.2.7: the state binds the response
	// to this browser's request (SECURITY.md OIDC-01).
	if subtle.ConstantTimeCompare([]byte(cb.State), []byte(pd.State)) != 1 {
		return providers.Identity{}, providers.Invalid("state mismatch")
	}
	d, err := p.discovery(ctx)
	if err != nil {
		return providers.Identity{}, err
	}
	// RFC 9207 §2.4: compare iss with the issuer the request was sent to;
	// an OP that advertises the parameter must send it (OIDC-16).
	switch {
	case cb.HasIss && cb.Iss != pd.Issuer:
		return providers.Identity{}, providers.Invalid("iss parameter %q is not the issuer", cb.Iss)
	case !cb.HasIss && d.issParameter:
		return providers.Identity{}, providers.Invalid("iss parameter missing although advertised")
	}
	if cb.Error != "" {
		return providers.Identity{}, &providers.UpstreamError{Code: cb.Error, Description: cb.ErrorDescription}
	}
	ctx = gooidc.ClientContext(ctx, p.cfg.HTTPClient)
	oc := d.oauth2
	oc.RedirectURL = pd.RedirectURI
	tok, err := oc.Exchange(ctx, cb.Code, oauth2.VerifierOption(pd.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return providers.Identity{}, providers.Invalid("token endpoint: %s", re.ErrorCode)
		}
		return providers.Identity{}, fmt.Errorf("%w: token endpoint: %w", providers.ErrUnavailable, err)
	}
	// RFC 6749 §5.1: token_type is required and case-insensitive; §7.1: a
	// client must not use an access token whose type it does not understand.
	// OIDC Core §3.1.3.3 says it is Bearer (RFC 6750); oauth2 would call an
	// empty one Bearer, so the raw value is checked.
	if !strings.EqualFold(tok.TokenType, "Bearer") {
		return providers.Identity{}, providers.Invalid("token response token_type %q is not Bearer", tok.TokenType)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return providers.Identity{}, providers.Invalid("token response has no id_token")
	}
	idt, err := p.verify(ctx, d, rawID, pd.Nonce, []string{p.cfg.ClientID})
	if err != nil {
		return providers.Identity{}, err
	}
	claims := idt.claims
	// OIDC Core §3.1.3.8: at_hash, when present, must match the access token.
	if idt.atHash != "" {
		if err := idt.verifyAccessToken(tok.AccessToken); err != nil {
			return providers.Identity{}, err
		}
	}
	if p.cfg.UserinfoMerge {
		if err := p.mergeUserinfo(ctx, d, tok, claims); err != nil {
			return providers.Identity{}, err
		}
	}
	return p.identity(claims, rawID)
}

func (p *Provider) mergeUserinfo(ctx context.Context, d *discovered, tok *oauth2.Token, claims map[string]any) error {
	ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("%w: userinfo: %w", providers.ErrUnavailable, err)
	}
	// OIDC Core §5.3.2: the UserInfo sub MUST equal the ID token's (OIDC-10).
	if ui.Subject == "" || ui.Subject != claims["sub"] {
		return providers.Invalid("userinfo sub %q differs from ID token", ui.Subject)
	}
	var extra map[string]any
	if err := ui.Claims(&extra); err != nil {
		return providers.Invalid("userinfo claims: %v", err)
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}
