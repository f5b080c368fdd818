package upstream

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/safehttp"
	"github.com/gatehouse/gatehouse/templates"
)

// Discovery is what an OpenID Provider's discovery document says that an
// admin confirms before adding it (OpenID Connect Discovery 1.0 §3).
type Discovery struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint,omitempty"`
	JWKSURI               string   `json:"jwks_uri"`
	EndSessionEndpoint    string   `json:"end_session_endpoint,omitempty"`
	SigningAlgs           []string `json:"id_token_signing_alg_values_supported,omitempty"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported,omitempty"`
	ScopesSupported       []string `json:"scopes_supported,omitempty"`
}

// PKCE reports whether the OP advertises S256 PKCE (RFC 7636 §4.2; RFC 8414
// §2 code_challenge_methods_supported), which Gatehouse always sends.
func (d Discovery) PKCE() bool { return slices.Contains(d.CodeChallengeMethods, "S256") }

// FetchDiscovery fetches issuer's discovery document for an admin to confirm,
// through the SSRF-guarded client: the issuer URL is checked before anything
// is sent (SECURITY.md ADM-06/07), the document must name exactly that issuer
// (OpenID Connect Discovery 1.0 §4.3), and the endpoints Gatehouse itself
// calls (token, userinfo, JWKS) must pass the same check (ADM-10: a
// second-order SSRF is refused at setup, not only at dial time). Every refusal
// is providers.ErrConfig; an unreachable OP is providers.ErrUnavailable.
func (e Env) FetchDiscovery(ctx context.Context, issuer string) (Discovery, error) {
	var d Discovery
	opts := safehttp.Options{Networks: e.Networks}
	if err := safehttp.CheckURL(issuer, opts); err != nil {
		return d, causeErr(providers.ErrConfig, templates.M("issuer: %s", err.Error()), err)
	}
	if u, _ := url.Parse(issuer); u.RawQuery != "" || u.Fragment != "" {
		return d, configErr(templates.M("issuer must not have a query or fragment"))
	}
	ctx, cancel := context.WithTimeout(ctx, safehttp.DefaultTimeout)
	defer cancel()
	// OpenID Connect Discovery 1.0 §4: the issuer with /.well-known/openid-configuration appended.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return d, causeErr(providers.ErrConfig, templates.M("issuer: %s", err.Error()), err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := e.client().Do(req)
	if err != nil {
		return d, causeErr(providers.ErrUnavailable, templates.M("discovery: %s", err.Error()), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return d, &Error{Kind: providers.ErrUnavailable, Msgs: []templates.Msg{templates.M("discovery: HTTP %s", strconv.Itoa(resp.StatusCode))}}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, safehttp.DefaultMaxBodyBytes+1))
	if err != nil {
		return d, causeErr(providers.ErrUnavailable, templates.M("discovery: %s", err.Error()), err)
	}
	if len(body) > safehttp.DefaultMaxBodyBytes {
		return d, configErr(templates.M("discovery document larger than %s bytes", strconv.Itoa(safehttp.DefaultMaxBodyBytes)))
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return d, configErr(templates.M("discovery document is not JSON"))
	}
	var problems []templates.Msg
	if d.Issuer != issuer {
		problems = append(problems, templates.M("the document names the issuer %q, not %q (OpenID Connect Discovery §4.3)", d.Issuer, issuer))
	}
	for _, ep := range []struct {
		name, url string
		required  bool
	}{{"token_endpoint", d.TokenEndpoint, true}, {"jwks_uri", d.JWKSURI, true}, {"userinfo_endpoint", d.UserinfoEndpoint, false}} {
		switch {
		case ep.url == "" && ep.required:
			problems = append(problems, templates.M("%s is missing", ep.name))
		case ep.url != "":
			if err := safehttp.CheckURL(ep.url, opts); err != nil {
				problems = append(problems, templates.M("%s: %s", ep.name, err.Error()))
			}
		}
	}
	// Browsers, not Gatehouse, visit these: only the http rule applies.
	for _, ep := range []struct{ name, url string }{{"authorization_endpoint", d.AuthorizationEndpoint}, {"end_session_endpoint", d.EndSessionEndpoint}} {
		if ep.url == "" {
			if ep.name == "authorization_endpoint" {
				problems = append(problems, templates.M("%s is missing", ep.name))
			}
			continue
		}
		u, err := url.Parse(ep.url)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && e.Networks.AllowsHTTP(u.Hostname()))) {
			problems = append(problems, templates.M("%s %q must be an https URL", ep.name, ep.url))
		}
	}
	if len(problems) > 0 {
		// The first line says where they were found, as it always has.
		problems[0] = templates.M("discovery: %s", problems[0])
		return d, configErr(problems...)
	}
	return d, nil
}
