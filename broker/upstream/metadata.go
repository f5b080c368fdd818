package upstream

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/safehttp"
	"github.com/gatehouse/gatehouse/providers/saml"
	"github.com/gatehouse/gatehouse/templates"
)

func (e Env) client() *http.Client {
	if e.HTTPClient != nil {
		return e.HTTPClient
	}
	return safehttp.NewClient(safehttp.Options{Networks: e.Networks})
}

// FetchMetadata fetches IdP metadata from rawURL through the SSRF-guarded client
// and validates it as ParseIdPMetadata does, plus: https only (SAML-49) unless
// Networks allows http to a loopback host, and not past its validUntil. On any
// error the caller keeps its last good copy.
func (e Env) FetchMetadata(ctx context.Context, rawURL string) ([]byte, error) {
	if err := safehttp.CheckURL(rawURL, safehttp.Options{Networks: e.Networks}); err != nil {
		return nil, causeErr(providers.ErrConfig, templates.M("metadata_url: %s", err.Error()), err)
	}
	// The request's deadline covers the body too, so the fetch ends within
	// safehttp's bound even with an injected client that has a longer timeout.
	ctx, cancel := context.WithTimeout(ctx, safehttp.DefaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, causeErr(providers.ErrConfig, templates.M("metadata URL: %s", err.Error()), err)
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := e.client().Do(req)
	if err != nil {
		return nil, causeErr(providers.ErrUnavailable, templates.M("metadata: %s", err.Error()), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Kind: providers.ErrUnavailable, Msgs: []templates.Msg{templates.M("metadata: HTTP %s", strconv.Itoa(resp.StatusCode))}}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, saml.MaxMetadataBytes+1))
	if err != nil {
		return nil, causeErr(providers.ErrUnavailable, templates.M("metadata: %s", err.Error()), err)
	}
	if err := e.CheckMetadata(body); err != nil {
		return nil, err
	}
	return body, nil
}

// CheckMetadata validates uploaded or fetched IdP metadata.
func (e Env) CheckMetadata(body []byte) error {
	md, err := e.parseMetadata(body)
	if err != nil {
		return err
	}
	if !md.ValidUntil.IsZero() && !e.now().Before(md.ValidUntil) {
		return configErr(templates.M("metadata expired at %s", md.ValidUntil.Format(time.RFC3339)))
	}
	return nil
}

// parseMetadata parses and validates IdP metadata. Its SSO and SLO locations
// are where browsers are sent, not calls Gatehouse makes, so of the allowed
// networks only the http rule applies to them: http only to a listed loopback
// host (the demo's IdP); saml refuses http itself when nothing is listed.
func (e Env) parseMetadata(body []byte) (*crewjam.EntityDescriptor, error) {
	md, err := saml.ParseIdPMetadata(body, saml.MetadataOptions{AllowHTTP: !e.Networks.IsZero()})
	if err != nil {
		return nil, providerConfigErr(err)
	}
	for _, loc := range locations(md) {
		if u, err := url.Parse(loc); err == nil && u.Scheme == "http" && !e.Networks.AllowsHTTP(u.Hostname()) {
			return nil, configErr(templates.M("metadata: location %q uses http: only loopback hosts listed in %s may",
				loc, safehttp.AllowedNetworksSetting))
		}
	}
	return md, nil
}

// locations are the SSO and SLO locations of IdP metadata.
func locations(md *crewjam.EntityDescriptor) []string {
	var locs []string
	for _, d := range md.IDPSSODescriptors {
		for _, s := range d.SingleSignOnServices {
			locs = append(locs, s.Location)
		}
		for _, s := range d.SingleLogoutServices {
			locs = append(locs, s.Location)
		}
	}
	return locs
}
