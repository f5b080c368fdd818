// Package safehttp builds the outbound HTTP client used for admin-supplied
// URLs (SAML metadata, OIDC discovery, JWKS, token endpoints): bounded in
// time and size, and refusing to connect to addresses an attacker could use
// to reach the host's own network (SSRF), such as cloud metadata services.
package safehttp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
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
	// AllowLoopback permits 127.0.0.0/8 and ::1 (tests, the demo).
	AllowLoopback bool
	// AllowPrivate permits RFC 1918, RFC 6598 (CGNAT) and fc00::/7 addresses,
	// for IdPs on an internal network.
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

// NewClient returns an http.Client enforcing o. Link-local (169.254.0.0/16,
// fe80::/10: cloud metadata services live there), unspecified, broadcast and
// multicast addresses are always refused. The check runs at dial time on the
// resolved address (net.Dialer.Control), so DNS rebinding cannot bypass it,
// and environment proxies are ignored so the checked address is the peer.
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
	dialer := &net.Dialer{
		Timeout: DefaultDialTimeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
			}
			return CheckAddr(ap.Addr(), o)
		},
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
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

// CheckAddr applies the address policy of o to ip.
func CheckAddr(ip netip.Addr, o Options) error {
	ip = ip.Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	deny := func(why string) error { return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, ip, why) }
	switch {
	case !ip.IsValid():
		return deny("invalid")
	case ip.IsUnspecified() || (ip.Is4() && thisNet.Contains(ip)):
		return deny("unspecified")
	case ip.IsLinkLocalUnicast():
		return deny("link-local")
	case ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip == broadcast:
		return deny("multicast or broadcast")
	case ip.IsLoopback():
		if !o.AllowLoopback {
			return deny("loopback")
		}
	case ip.IsPrivate() || cgnat.Contains(ip):
		if !o.AllowPrivate {
			return deny("private")
		}
	}
	return nil
}

// limitTransport caps response bodies.
type limitTransport struct {
	next http.RoundTripper
	max  int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
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
