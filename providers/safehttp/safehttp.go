// Package safehttp builds the outbound HTTP client used for admin-supplied
// URLs (SAML metadata, OIDC discovery, JWKS, token endpoints): bounded in
// time and size, and refusing to connect to addresses an attacker could use
// to reach the host's own network (SSRF), such as cloud metadata services.
package safehttp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"
)

var (
	// ErrForbiddenAddress: the destination IP is not allowed by Options.
	ErrForbiddenAddress = errors.New("safehttp: destination address not allowed")
	// ErrBodyTooLarge: the response body exceeded Options.MaxBodyBytes.
	ErrBodyTooLarge = errors.New("safehttp: response body too large")
	// ErrRedirect: too many redirects, or a redirect to another scheme.
	ErrRedirect = errors.New("safehttp: redirect refused")
)

// Defaults used when an Options field is zero.
const (
	// DefaultTimeout bounds one outbound call in total: connecting, TLS, the
	// response headers and reading the whole body, so an IdP that trickles
	// its answer cannot hold a sign-in (or a metadata refresh) open.
	DefaultTimeout       = 10 * time.Second
	DefaultDialTimeout   = 5 * time.Second
	DefaultHeaderTimeout = 10 * time.Second
	DefaultMaxBodyBytes  = 1 << 20
	DefaultMaxRedirects  = 3
)

// Options configures NewClient. The zero value is the production policy.
type Options struct {
	// Networks are the private and loopback destinations allowed
	// (AllowedNetworksSetting); plain http only to a loopback one.
	Networks Networks
	// AllowLoopback adds LoopbackNetworks to Networks (tests).
	AllowLoopback bool
	// AllowPrivate adds every RFC 1918, RFC 6598 (CGNAT) and fc00::/7
	// address to Networks (tests).
	AllowPrivate bool
	// Timeout bounds a whole request including reading the body
	// (http.Client.Timeout); zero means DefaultTimeout.
	Timeout time.Duration
	// MaxBodyBytes bounds every response body.
	MaxBodyBytes int64
	// MaxRedirects bounds redirects; negative means none are followed.
	MaxRedirects int
	// TLSConfig, if set, is used for TLS (e.g. a test CA).
	TLSConfig *tls.Config
}

// NewClient returns an http.Client enforcing o. Loopback and private
// addresses are refused unless o.Networks lists them; link-local
// (169.254.0.0/16, fe80::/10), cloud metadata, unspecified, broadcast and
// multicast addresses always are; plain http is used only towards a listed
// loopback address. The check runs at dial time on the resolved address
// (net.Dialer.Control), so DNS rebinding cannot bypass it, and environment
// proxies are ignored so the checked address is the peer.
func NewClient(o Options) *http.Client {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	o.Networks, o.AllowLoopback, o.AllowPrivate = o.networks(), false, false
	dialer := &net.Dialer{Timeout: DefaultDialTimeout}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            guardedDial(dialer, o),
		TLSClientConfig:        o.TLSConfig,
		TLSHandshakeTimeout:    DefaultDialTimeout,
		ResponseHeaderTimeout:  DefaultHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           16,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
	maxRedirects := o.MaxRedirects
	return &http.Client{
		Timeout:   o.Timeout,
		Transport: &limitTransport{next: tr, max: o.MaxBodyBytes},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrRedirect, maxRedirects)
			}
			// Never downgrade https to http, nor leave http(s).
			prev := via[len(via)-1].URL.Scheme
			if (req.URL.Scheme != "https" && req.URL.Scheme != "http") || (prev == "https" && req.URL.Scheme != "https") {
				return fmt.Errorf("%w: to scheme %q", ErrRedirect, req.URL.Scheme)
			}
			return nil
		},
	}
}

// nat64 is the well-known NAT64 prefix (RFC 6052 §2.1); an address in it
// reaches the embedded IPv4 address, so that one is checked instead.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")
	broadcast = netip.MustParseAddr("255.255.255.255")
)

// CheckAddr applies the address policy of o to ip, as for an https
// connection to an address with no listed host name.
func CheckAddr(ip netip.Addr, o Options) error { return o.check("", ip, false) }

// limitTransport caps response bodies.
type limitTransport struct {
	next http.RoundTripper
	max  int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" {
		req = req.WithContext(context.WithValue(req.Context(), plainHTTPKey{}, true))
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: Content-Length %d", ErrBodyTooLarge, resp.ContentLength)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

// limitedBody fails with ErrBodyTooLarge instead of silently truncating, so
// a cut-off document is never parsed as if complete.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), ErrBodyTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
