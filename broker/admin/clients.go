package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
)

// The apps (OAuth clients) in the admin API. A client's secret is write-only
// (SECURITY.md ADM-12): Gatehouse generates it, shows it once in the answer to
// a create or a rotate-secret and stores only its hash; everything else says
// client_secret_set.

// ClientJSON is an app as the admin API shows it: never its secret or hash.
type ClientJSON struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	LogoURI                string   `json:"logo_uri,omitempty"`
	ClientURI              string   `json:"client_uri,omitempty"`
	Public                 bool     `json:"public"`
	FirstParty             bool     `json:"first_party"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
	// DefaultAPI is the audience of the API tokens are for without an RFC 8707
	// resource parameter; APIs the other audiences it may ask for.
	DefaultAPI               string          `json:"default_api,omitempty"`
	APIs                     []string        `json:"apis"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                  string          `json:"jwks_uri,omitempty"`
	AccessTokenTTL           string          `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL          string          `json:"refresh_token_ttl,omitempty"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	ResourceServerFor        []string        `json:"resource_server_for"`
	ExchangeTokenTypes       []string        `json:"exchange_token_types"`
	ExchangeProviders        []string        `json:"exchange_providers"`
	// DPoPBoundAccessTokens requires a DPoP proof on every token request (RFC
	// 9449 §5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens"`
	// ClientSecretSet says whether the app authenticates with a secret, which
	// is never shown again (ADM-12).
	ClientSecretSet bool `json:"client_secret_set"`
	// Version is sent back with an update (DATA-11): a stale one is 409.
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ClientWithSecretJSON is the answer to a create or a rotate-secret: the app
// and its new secret, shown this once.
type ClientWithSecretJSON struct {
	ClientJSON
	ClientSecret string `json:"client_secret,omitempty"`
}

// ClientInput is what the admin API accepts to create (POST) or replace (PUT)
// an app; any other field — client_secret, secret_hash — is refused (ADM-03).
type ClientInput struct {
	ID                     string   `json:"id,omitempty"`
	Name                   string   `json:"name"`
	LogoURI                string   `json:"logo_uri,omitempty"`
	ClientURI              string   `json:"client_uri,omitempty"`
	Public                 *bool    `json:"public,omitempty"`
	FirstParty             bool     `json:"first_party,omitempty"`
	RedirectURIs           []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes             []string `json:"grant_types,omitempty"`
	Scopes                 []string `json:"scopes,omitempty"`
	DefaultAPI             string   `json:"default_api,omitempty"`
	APIs                   []string `json:"apis,omitempty"`
	// TokenEndpointAuthMethod: empty keeps the stored one (PUT) or takes the
	// default (POST: client_secret_basic, none for a public app).
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method,omitempty"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                  string          `json:"jwks_uri,omitempty"`
	AccessTokenTTL           string          `json:"access_token_ttl,omitempty"`
	RefreshTokenTTL          string          `json:"refresh_token_ttl,omitempty"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg,omitempty"`
	ResourceServerFor        []string        `json:"resource_server_for,omitempty"`
	ExchangeTokenTypes       []string        `json:"exchange_token_types,omitempty"`
	ExchangeProviders        []string        `json:"exchange_providers,omitempty"`
	DPoPBoundAccessTokens    bool            `json:"dpop_bound_access_tokens,omitempty"`
	// Version is required by PUT: the version the change was made from.
	Version int64 `json:"version,omitempty"`
}

// ClientView is c as the admin API shows it; the command line's --json
// prints it too, so both speak the same fields.
func ClientView(c store.Client) ClientJSON { return toClientJSON(c) }

func toClientJSON(c store.Client) ClientJSON {
	return ClientJSON{ID: c.ID, Name: c.Name, LogoURI: c.LogoURI, ClientURI: c.ClientURI, Public: c.Public, FirstParty: c.FirstParty,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), DefaultAPI: c.DefaultAudience, APIs: nonNil(c.Audiences),
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, JWKS: json.RawMessage(c.JWKS), JWKSURI: c.JWKSURI,
		AccessTokenTTL: durationText(c.AccessTokenTTL), RefreshTokenTTL: durationText(c.RefreshTokenTTL),
		IDTokenSignedResponseAlg: c.IDTokenAlg(), ResourceServerFor: nonNil(c.ResourceServerFor),
		ExchangeTokenTypes: nonNil(c.ExchangeTokenTypes), ExchangeProviders: nonNil(c.ExchangeProviders),
		DPoPBoundAccessTokens: c.DPoPBoundAccessTokens, ClientSecretSet: len(c.SecretHash) > 0, Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// toClient makes the stored form of in over cur (the stored app for PUT, the
// zero value for POST); what cannot even be parsed is a problem of its own.
func (in ClientInput) toClient(cur store.Client) (store.Client, []string) {
	c := store.Client{ID: in.ID, Name: in.Name, LogoURI: in.LogoURI, ClientURI: in.ClientURI, Public: cur.Public, FirstParty: in.FirstParty,
		RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, GrantTypes: in.GrantTypes,
		Scopes: in.Scopes, DefaultAudience: in.DefaultAPI, Audiences: in.APIs, TokenEndpointAuthMethod: in.TokenEndpointAuthMethod,
		JWKSURI: in.JWKSURI, IDTokenSignedResponseAlg: in.IDTokenSignedResponseAlg, ResourceServerFor: in.ResourceServerFor,
		ExchangeTokenTypes: in.ExchangeTokenTypes, ExchangeProviders: in.ExchangeProviders,
		DPoPBoundAccessTokens: in.DPoPBoundAccessTokens, Version: in.Version}
	var problems []string
	if in.Public != nil {
		if cur.ID != "" && *in.Public != cur.Public {
			problems = append(problems, "public cannot change: an app is public or confidential for good; add another app instead")
		}
		c.Public = *in.Public
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = cur.TokenEndpointAuthMethod
	}
	if j := bytes.TrimSpace(in.JWKS); len(j) > 0 && !bytes.Equal(j, []byte("null")) {
		c.JWKS = j
	}
	for _, d := range []struct {
		name, text string
		into       *time.Duration
	}{{"access_token_ttl", in.AccessTokenTTL, &c.AccessTokenTTL}, {"refresh_token_ttl", in.RefreshTokenTTL, &c.RefreshTokenTTL}} {
		if p := parseTTL(d.name, d.text, d.into); p != "" {
			problems = append(problems, p)
		}
	}
	return c, problems
}

// parseTTL reads a token lifetime: empty is the server's default (0).
func parseTTL(name, text string, into *time.Duration) string {
	if text == "" {
		return ""
	}
	d, err := time.ParseDuration(text)
	if err != nil || d < 0 {
		return fmt.Sprintf("%s %q is not a duration like 15m", name, text)
	}
	*into = d
	return ""
}

func durationText(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// lastTokenIssued is when the app was last issued a token (its latest
// token.issued audit event, found through the actor index), or the zero time.
func (a *Server) lastTokenIssued(ctx context.Context, id string) (time.Time, error) {
	evs, err := a.ops.Store.Audit().List(ctx, store.AuditFilter{Actor: "client:" + id, Action: "token.issued", Limit: 1})
	if err != nil || len(evs) == 0 {
		return time.Time{}, err
	}
	return evs[0].Time, nil
}

// --- Admin API ---

// ClientList is GET /api/admin/v1/clients.
func (a *Server) ClientList(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, _ person) error {
		list, err := a.ops.ListClients(r.Context())
		if err != nil {
			return err
		}
		out := []ClientJSON{}
		for _, c := range list {
			out = append(out, toClientJSON(c))
		}
		return writeJSON(w, http.StatusOK, map[string]any{"clients": out})
	})
}

// ClientGet is GET /api/admin/v1/clients/{id}.
func (a *Server) ClientGet(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, _ person) error {
		c, err := a.ops.GetClient(r.Context(), r.PathValue("id"))
		if err != nil {
			return opProblem(err)
		}
		return writeJSON(w, http.StatusOK, toClientJSON(c))
	})
}

// ClientCreate is POST /api/admin/v1/clients: the answer holds the app's
// secret, the only time it is shown (ADM-12).
func (a *Server) ClientCreate(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		var in ClientInput
		if err := decode(r, &in); err != nil {
			return err
		}
		if in.Version != 0 {
			return problem(http.StatusBadRequest, "version is not accepted when creating an app.")
		}
		c, problems := in.toClient(store.Client{})
		if len(problems) > 0 {
			return invalidProblem(problems)
		}
		res, err := a.ops.CreateClient(r.Context(), p.Actor, c)
		if err != nil {
			return opProblem(err)
		}
		a.forgetClient(res.Client.ID) // a lookup before may have cached it as unknown
		w.Header().Set("Location", "/api/admin/v1/clients/"+url.PathEscape(res.Client.ID))
		return writeJSON(w, http.StatusCreated, ClientWithSecretJSON{ClientJSON: toClientJSON(res.Client), ClientSecret: res.Secret})
	})
}

// ClientUpdate is PUT /api/admin/v1/clients/{id}: a whole replacement of the
// app's settings, from the version it names; the secret stays.
func (a *Server) ClientUpdate(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		id := r.PathValue("id")
		var in ClientInput
		if err := decode(r, &in); err != nil {
			return err
		}
		if in.ID != "" && in.ID != id {
			return problem(http.StatusBadRequest, "The id in the body is not the one in the path; an app's ID cannot change.")
		}
		if in.Version <= 0 {
			return problem(http.StatusBadRequest, "version is required: the version of the app the change was made from.")
		}
		cur, err := a.ops.GetClient(r.Context(), id)
		if err != nil {
			return opProblem(err)
		}
		in.ID = id
		c, problems := in.toClient(cur)
		if len(problems) > 0 {
			return invalidProblem(problems)
		}
		c, err = a.ops.UpdateClient(r.Context(), p.Actor, c)
		if err != nil {
			return opProblem(err)
		}
		a.forgetClient(id)
		return writeJSON(w, http.StatusOK, toClientJSON(c))
	})
}

// ClientRotateSecret is POST /api/admin/v1/clients/{id}/rotate-secret: a new
// secret, shown this once; the old one stops working at once.
func (a *Server) ClientRotateSecret(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		res, err := a.ops.RotateClientSecret(r.Context(), p.Actor, r.PathValue("id"))
		if err != nil {
			return opProblem(err)
		}
		a.forgetClient(res.Client.ID) // the old secret stops working here at once
		return writeJSON(w, http.StatusOK, ClientWithSecretJSON{ClientJSON: toClientJSON(res.Client), ClientSecret: res.Secret})
	})
}

// ClientDelete is DELETE /api/admin/v1/clients/{id}: the app and every token
// issued to it (operations.DeleteClient).
func (a *Server) ClientDelete(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		if err := a.ops.DeleteClient(r.Context(), p.Actor, r.PathValue("id")); err != nil {
			return opProblem(err)
		}
		a.forgetClient(r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
