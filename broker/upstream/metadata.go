package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/safehttp"
	"github.com/gatehouse/gatehouse/providers/saml"
)

func (e Env) client() *http.Client {
	if e.HTTPClient != nil {
		return e.HTTPClient
	}
	return safehttp.NewClient(safehttp.Options{})
}

// FetchMetadata fetches IdP metadata from rawURL through the SSRF-guarded client
// and validates it as ParseIdPMetadata does, plus: https only (SAML-49), and not
// past its validUntil. On any error the caller keeps its last good copy.
func (e Env) FetchMetadata(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || (e.AllowHTTP && u.Scheme == "http")) {
		return nil, fmt.Errorf("%w: metadata URL must be https", providers.ErrConfig)
	}
	// The request's deadline covers the body too, so the fetch ends within
	// safehttp's bound even with an injected client that has a longer timeout.
	ctx, cancel := context.WithTimeout(ctx, safehttp.DefaultTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata URL: %w", providers.ErrConfig, err)
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := e.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata: %w", providers.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: metadata: HTTP %d", providers.ErrUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, saml.MaxMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: metadata: %w", providers.ErrUnavailable, err)
	}
	if err := e.CheckMetadata(body); err != nil {
		return nil, err
	}
	return body, nil
}

// CheckMetadata validates uploaded or fetched IdP metadata.
func (e Env) CheckMetadata(body []byte) error {
	md, err := saml.ParseIdPMetadata(body, saml.MetadataOptions{AllowHTTP: e.AllowHTTP})
	if err != nil {
		return err
	}
	if !md.ValidUntil.IsZero() && !e.now().Before(md.ValidUntil) {
		return fmt.Errorf("%w: metadata expired at %s", providers.ErrConfig, md.ValidUntil.Format(time.RFC3339))
	}
	return nil
}
