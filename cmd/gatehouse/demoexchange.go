//go:build demo

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/store"
)

// The demo's token exchange (RFC 8693; README "Token exchange"): two services and
// a second API. demo-service trades the demo IdPs' ID tokens and assertions for
// Notes API tokens, and Notes API tokens for Reports API tokens acting for the
// person; demo-reports, behind the Reports API, trades those for Notes API tokens
// in turn, so the last token says who acted: act {demo-reports, act {demo-service}}.
const (
	demoReportsAudience = "https://reports.demo.example"
	demoServiceID       = "demo-service"
	demoReportsID       = "demo-reports"
)

// demoReportsAPI shares the scope name notes.read with the Notes API: an exchange
// only narrows (the result's scope ⊆ the subject token's), so a token for the
// Reports API made from a Notes API token can carry only names the two share.
var demoReportsAPI = store.API{ID: "demo-reports-api", Audience: demoReportsAudience, Name: "Demo Reports API", Scopes: []store.Scope{
	{Name: "notes.read", Description: "Build reports from your notes"},
	{Name: "reports.read", Description: "Read your reports"},
}}

func demoExchangeClients() []store.Client {
	return []store.Client{
		{ID: demoServiceID, Name: "Demo notes service (token exchange)",
			GrantTypes:      []string{registry.GrantClientCredentials, registry.GrantTokenExchange},
			Scopes:          []string{"notes.read", "notes.write", "grades.read"},
			DefaultAudience: demoAPIAudience, Audiences: []string{demoReportsAudience},
			// It is the Notes API's backend: it may exchange (and introspect) tokens
			// addressed to that API, whichever client they were issued to.
			ResourceServerFor:  []string{demoAPIAudience},
			ExchangeTokenTypes: slices.Clone(registry.ExchangeTokenTypes), ExchangeProviders: []string{"demo-oidc", "demo-saml"},
			TokenEndpointAuthMethod: registry.AuthSecretBasic},
		{ID: demoReportsID, Name: "Demo reports service (token exchange)",
			GrantTypes:      []string{registry.GrantClientCredentials, registry.GrantTokenExchange},
			Scopes:          []string{"notes.read", "reports.read"},
			DefaultAudience: demoReportsAudience, Audiences: []string{demoAPIAudience},
			ResourceServerFor:       []string{demoReportsAudience},
			ExchangeTokenTypes:      []string{registry.TokenTypeAccessToken},
			TokenEndpointAuthMethod: registry.AuthSecretBasic},
	}
}

// registerDemoExchange registers the Reports API and the two services (after the
// demo providers, which the services name) and writes <dataDir>/exchange.env
// (0600) with their new secrets and the URLs the README's script uses.
func registerDemoExchange(ctx context.Context, ops *operations.Service, dataDir string, urls [][2]string) error {
	if err := upsertDemoAPI(ctx, ops, demoReportsAPI); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# Written by 'gatehouse demo' at each start, with new secrets: what README's\n" +
		"# token-exchange script needs (source it). Valid while this demo runs.\n")
	for _, kv := range urls {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	fmt.Fprintf(&b, "NOTES_API=%s\nREPORTS_API=%s\n", demoAPIAudience, demoReportsAudience)
	for _, c := range demoExchangeClients() {
		secret, err := upsertDemoClient(ctx, ops, c)
		if err != nil {
			return fmt.Errorf("demo client %s: %w", c.ID, err)
		}
		name := strings.ToUpper(strings.TrimPrefix(c.ID, "demo-"))
		fmt.Fprintf(&b, "%s_ID=%s\n%s_SECRET=%s\n", name, c.ID, name, secret)
	}
	path := filepath.Join(dataDir, "exchange.env")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	// WriteFile keeps an existing file's mode.
	return os.Chmod(path, 0o600)
}

// upsertDemoAPI creates api, or updates it to this version of the demo.
func upsertDemoAPI(ctx context.Context, ops *operations.Service, api store.API) error {
	_, err := ops.GetAPI(ctx, api.ID)
	switch {
	case errors.Is(err, operations.ErrNotFound):
		_, err = ops.CreateAPI(ctx, demoActor, api)
	case err == nil:
		_, err = ops.UpdateAPI(ctx, demoActor, api)
	}
	return err
}

// upsertDemoClient creates c, or updates it and rotates its secret, and returns
// its new secret: the demo keeps no secret from one start to the next.
func upsertDemoClient(ctx context.Context, ops *operations.Service, c store.Client) (string, error) {
	if _, err := ops.GetClient(ctx, c.ID); errors.Is(err, operations.ErrNotFound) {
		created, err := ops.CreateClient(ctx, demoActor, c)
		return created.Secret, err
	} else if err != nil {
		return "", err
	}
	if _, err := ops.UpdateClient(ctx, demoActor, c); err != nil {
		return "", err
	}
	rotated, err := ops.RotateClientSecret(ctx, demoActor, c.ID)
	return rotated.Secret, err
}
