package safehttp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
)

// AllowedNetworksSetting is the setting through which an admin lets Gatehouse
// reach IdPs on the organisation's own network. Refusals name it, so the admin
// knows what to change.
const AllowedNetworksSetting = "GATEHOUSE_UPSTREAM_ALLOWED_NETWORKS"

// Networks are the private and loopback destinations an admin allows
// (AllowedNetworksSetting): CIDRs, and host names whose every address is
// allowed. The zero value allows none: public https only.
type Networks struct {
	Prefixes []netip.Prefix
	// Hosts are lower-case DNS names without a trailing dot.
	Hosts []string
}

// ParseNetworks reads a comma-separated list of CIDRs, IP addresses and host
// names. Entries that could never be allowed (link-local, cloud metadata,
// multicast, unspecified) are errors, so a list that looks like it allows
// them does not mislead.
func ParseNetworks(list string) (Networks, error) {
	var n Networks
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil && a.Zone() == "" {
				p, err = netip.PrefixFrom(a, a.BitLen()), nil
			}
		}
		if err == nil {
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			p = p.Masked()
			for _, r := range refusedRanges {
				if r.p.Bits() <= p.Bits() && r.p.Contains(p.Addr()) {
					return Networks{}, fmt.Errorf("%q is %s and is refused whatever this setting says", s, r.why)
				}
			}
			if !slices.Contains(n.Prefixes, p) {
				n.Prefixes = append(n.Prefixes, p)
			}
			continue
		}
		h := normalHost(s)
		if !validHostName(h) {
			return Networks{}, fmt.Errorf("%q is neither a CIDR like 10.0.0.0/8 nor a host name like idp.corp.example", s)
		}
		if isMetadataHost(h) {
			return Networks{}, fmt.Errorf("%q is a cloud metadata service and is refused whatever this setting says", s)
		}
		if !slices.Contains(n.Hosts, h) {
			n.Hosts = append(n.Hosts, h)
		}
	}
	return n, nil
}

// MustParseNetworks is ParseNetworks for constant lists; it panics on error.
func MustParseNetworks(list string) Networks {
	n, err := ParseNetworks(list)
	if err != nil {
		panic(err)
	}
	return n
}

// LoopbackNetworks lists every loopback address and the name localhost: IdPs
// running on the same machine (the demo, tests).
func LoopbackNetworks() Networks { return MustParseNetworks("127.0.0.0/8,::1,localhost") }

// String is the list in ParseNetworks syntax.
func (n Networks) String() string {
	var parts []string
	for _, p := range n.Prefixes {
		parts = append(parts, p.String())
	}
	return strings.Join(append(parts, n.Hosts...), ",")
}

// IsZero reports whether n allows nothing beyond public https.
func (n Networks) IsZero() bool { return len(n.Prefixes) == 0 && len(n.Hosts) == 0 }

func (n Networks) containsAddr(ip netip.Addr) bool {
	for _, p := range n.Prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (n Networks) listsHost(host string) bool {
	return host != "" && slices.Contains(n.Hosts, normalHost(host))
}

// AllowsHTTP reports whether plain http may be used to host (a URL's
// Hostname()): only a loopback host the list names, where no network is
// crossed. A listed name must be localhost or below it (RFC 6761 §6.3: such
// names resolve to loopback), and the dial check still insists on a loopback
// address.
func (n Networks) AllowsHTTP(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		return ip.IsLoopback() && n.containsAddr(ip)
	}
	h := normalHost(host)
	return (h == "localhost" || strings.HasSuffix(h, ".localhost")) && n.listsHost(h)
}

// CheckURL applies o's policy to an IdP URL before anything is fetched (an
// admin adding a provider): http(s) only, http only as AllowsHTTP says, a
// metadata host name refused, and an IP-literal host checked as at dial. A
// host name is resolved only when it is dialled, where every address it
// resolves to is checked (DNS rebinding).
func CheckURL(raw string, o Options) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%w: %q is not an absolute URL", ErrForbiddenAddress, raw)
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		if !o.networks().AllowsHTTP(host) {
			return fmt.Errorf("%w: %s uses http: only loopback hosts listed in %s may be used without TLS; use https",
				ErrForbiddenAddress, raw, AllowedNetworksSetting)
		}
	default:
		return fmt.Errorf("%w: %q must be an https URL", ErrForbiddenAddress, raw)
	}
	if isMetadataHost(host) {
		return fmt.Errorf("%w: %s is a cloud metadata service, refused whatever %s says", ErrForbiddenAddress, host, AllowedNetworksSetting)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return o.check(host, ip, u.Scheme == "http")
	}
	return nil
}

// networks merges the AllowLoopback and AllowPrivate shorthands into the list,
// so that one policy decides.
func (o Options) networks() Networks {
	n := o.Networks
	if o.AllowLoopback {
		l := LoopbackNetworks()
		n.Prefixes = append(slices.Clip(n.Prefixes), l.Prefixes...)
		n.Hosts = append(slices.Clip(n.Hosts), l.Hosts...)
	}
	if o.AllowPrivate {
		n.Prefixes = append(slices.Clip(n.Prefixes), privatePrefixes...)
	}
	return n
}

// RFC 1918, RFC 6598 (CGNAT) and RFC 4193 (fc00::/7) addresses.
var privatePrefixes = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), cgnat, netip.MustParsePrefix("fc00::/7"),
}

// metadataHosts are names of cloud metadata services (GCP); they resolve to a
// link-local address anyway, but are refused by name before any lookup.
var metadataHosts = []string{"metadata.google.internal"}

func isMetadataHost(host string) bool { return slices.Contains(metadataHosts, normalHost(host)) }

func normalHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// refusedRanges are refused whatever the list says. Cloud metadata services
// come first for a clear message: 169.254.169.254 (AWS, GCP, Azure…), AWS's
// IPv6 endpoint (inside fc00::/7) and Alibaba Cloud's (inside 100.64.0.0/10).
var refusedRanges = []struct {
	p   netip.Prefix
	why string
}{
	{netip.MustParsePrefix("169.254.169.254/32"), "a cloud metadata service"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "a cloud metadata service"},
	{netip.MustParsePrefix("100.100.100.200/32"), "a cloud metadata service"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{thisNet, "unspecified"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.PrefixFrom(broadcast, 32), "broadcast"},
}

// neverAllowed says why ip is refused whatever the list says, or "".
func neverAllowed(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid"
	}
	for _, r := range refusedRanges {
		if r.p.Contains(ip) {
			return r.why
		}
	}
	return ""
}

// check is the address policy: host is the name being dialled ("" if none),
// ip the address it resolved to, plainHTTP whether the connection carries
// http rather than https.
func (o Options) check(host string, ip netip.Addr, plainHTTP bool) error {
	ip = ip.Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	if why := neverAllowed(ip); why != "" {
		return fmt.Errorf("%w: %s is %s, refused whatever %s says", ErrForbiddenAddress, ip, why, AllowedNetworksSetting)
	}
	n := o.networks()
	listed := n.containsAddr(ip) || n.listsHost(host)
	kind := ""
	switch {
	case ip.IsLoopback():
		kind = "loopback"
	case ip.IsPrivate() || cgnat.Contains(ip):
		kind = "private"
	}
	if kind != "" && !listed {
		return fmt.Errorf("%w: %s is a %s address; to reach an IdP there, list it or its host name in %s",
			ErrForbiddenAddress, ip, kind, AllowedNetworksSetting)
	}
	if plainHTTP && !(ip.IsLoopback() && listed) {
		return fmt.Errorf("%w: http to %s: only loopback hosts listed in %s may be used without TLS",
			ErrForbiddenAddress, ip, AllowedNetworksSetting)
	}
	return nil
}

// plainHTTPKey marks a request context whose connection will carry plain
// http; the dialer reads it to apply the http rule to the resolved address.
type plainHTTPKey struct{}

// guardedDial returns the DialContext of NewClient: every address the host
// resolves to is checked as it is connected to (net.Dialer.Control), so a DNS
// answer that changes between check and use (rebinding) cannot bypass it.
func guardedDial(base *net.Dialer, o Options) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrForbiddenAddress, addr)
		}
		if isMetadataHost(host) {
			return nil, fmt.Errorf("%w: %s is a cloud metadata service, refused whatever %s says", ErrForbiddenAddress, host, AllowedNetworksSetting)
		}
		plain := ctx.Value(plainHTTPKey{}) != nil
		d := *base
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
			}
			return o.check(host, ap.Addr(), plain)
		}
		return d.DialContext(ctx, network, addr)
	}
}
