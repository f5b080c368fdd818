//go:build demo

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
)

// The demo's device without a browser (RFC 8628; README "Devices without a
// browser"): demo-cli is a public client with the device grant, and `gatehouse
// demo-cli` signs in with it as a command-line tool would.
const demoCLIID = "demo-cli"

// registerDemoCLI creates or updates the Demo CLI's client: public (a CLI keeps
// no secret), the device grant with refresh tokens, no redirect URI.
func registerDemoCLI(ctx context.Context, ops *operations.Service) error {
	c := store.Client{ID: demoCLIID, Name: "Demo CLI", Public: true,
		GrantTypes:      []string{registry.GrantDeviceCode, registry.GrantRefreshToken},
		Scopes:          []string{"openid", "profile", "email", "notes.read", "notes.write", "grades.read"},
		DefaultAudience: demoAPIAudience, TokenEndpointAuthMethod: registry.AuthNone}
	if _, err := ops.GetClient(ctx, c.ID); errors.Is(err, operations.ErrNotFound) {
		_, err := ops.CreateClient(ctx, demoActor, c)
		return err
	} else if err != nil {
		return err
	}
	_, err := ops.UpdateClient(ctx, demoActor, c)
	return err
}

func cmdDemoCLI(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "demo-cli", "demo-cli [flags]",
		"Signs in to the running demo as a device without a browser would (RFC 8628, the\n"+
			"device authorization grant): it prints an address and a code, you open the address\n"+
			"in a browser, sign in and allow \"Demo CLI\", and it prints who signed in and the\n"+
			"token's scopes. Start the demo first (make demo).")
	issuer := fs.String("issuer", "http://localhost:8080", "the demo's address (its issuer)")
	scope := fs.String("scope", "openid profile notes.read", "the scopes to ask for")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("demo-cli takes no arguments")
	}
	return deviceLogin(ctx, env, http.DefaultClient, strings.TrimSuffix(*issuer, "/"), demoCLIID, *scope)
}

// deviceLogin runs the device flow as client against issuer: discovery (RFC 8628
// §4), the device authorization request (§3.1), then polling the token endpoint
// (§3.4) at the interval, 5 s longer after each slow_down (§3.5).
func deviceLogin(ctx context.Context, env *environment, hc *http.Client, issuer, client, scope string) error {
	ctx = oidc.ClientContext(ctx, hc)
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return fmt.Errorf("is the demo running at %s? %w", issuer, err)
	}
	var meta struct {
		DeviceEndpoint string `json:"device_authorization_endpoint"`
	}
	if err := provider.Claims(&meta); err != nil || meta.DeviceEndpoint == "" {
		return errors.New("the server does not offer the device authorization grant")
	}
	var da struct {
		DeviceCode              string `json:"device_code"`
		UserCode                string `json:"user_code"`
		VerificationURI         string `json:"verification_uri"`
		VerificationURIComplete string `json:"verification_uri_complete"`
		ExpiresIn               int    `json:"expires_in"`
		Interval                int    `json:"interval"`
	}
	if err := devicePost(ctx, hc, meta.DeviceEndpoint, url.Values{"client_id": {client}, "scope": {scope}}, &da); err != nil {
		return fmt.Errorf("device authorization: %w", err)
	}
	fmt.Fprintf(env.stdout, "To sign in, open %s in a browser and enter the code\n\n    %s\n\n"+
		"or open %s\nWaiting for you to allow it (the code expires in %d minutes)…\n",
		da.VerificationURI, da.UserCode, da.VerificationURIComplete, da.ExpiresIn/60)
	interval := time.Duration(max(da.Interval, 5)) * time.Second
	deadline := time.Now().Add(time.Duration(da.ExpiresIn) * time.Second)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			IDToken     string `json:"id_token"`
			Scope       string `json:"scope"`
		}
		err := devicePost(ctx, hc, provider.Endpoint().TokenURL, url.Values{"grant_type": {registry.GrantDeviceCode},
			"client_id": {client}, "device_code": {da.DeviceCode}}, &tok)
		var oe *oauthError
		switch {
		case errors.As(err, &oe) && oe.Code == "authorization_pending":
			continue
		case errors.As(err, &oe) && oe.Code == "slow_down":
			interval += 5 * time.Second
			continue
		case errors.As(err, &oe) && oe.Code == "access_denied":
			return errors.New("access was denied in the browser")
		case errors.As(err, &oe) && oe.Code == "expired_token":
			return errors.New("the code expired before it was allowed: run demo-cli again")
		case err != nil:
			if time.Now().After(deadline) {
				return errors.New("the code expired before it was allowed: run demo-cli again")
			}
			return fmt.Errorf("token request: %w", err)
		}
		// The ID token says who signed in (OIDC Core §3.1.3.7), checked as a
		// relying party checks it.
		idt, err := provider.Verifier(&oidc.Config{ClientID: client}).Verify(ctx, tok.IDToken)
		if err != nil {
			return fmt.Errorf("the ID token: %w", err)
		}
		// Name and email come from UserInfo (OIDC Core §5.3), as the demo app
		// reads them; without profile or email only sub is known.
		var who struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		}
		if ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok.AccessToken,
			TokenType: "Bearer"})); err == nil && ui.Subject == idt.Subject {
			ui.Claims(&who)
		}
		name := who.Name
		if who.Email != "" {
			name = strings.TrimSpace(name + " <" + who.Email + ">")
		}
		fmt.Fprintf(env.stdout, "Signed in as %s (sub %s)\nScopes: %s\n", cmp.Or(name, idt.Subject), idt.Subject, tok.Scope)
		return nil
	}
}

// oauthError is an RFC 6749 §5.2 error answer.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

// devicePost posts v and decodes a 200 answer into out, or returns the OAuth error.
func devicePost(ctx context.Context, hc *http.Client, endpoint string, v url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(v.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		oe := &oauthError{}
		if json.NewDecoder(res.Body).Decode(oe) != nil || oe.Code == "" {
			return fmt.Errorf("HTTP %d", res.StatusCode)
		}
		return oe
	}
	return json.NewDecoder(res.Body).Decode(out)
}
