package safehttp

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParseNetworks(t *testing.T) {
	n, err := ParseNetworks(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8, IdP.Corp.Example., ::ffff:172.16.0.0/108,localhost,10.0.0.0/8,")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n.String(), "10.0.0.0/8,192.168.1.7/32,fd00::/8,172.16.0.0/12,idp.corp.example,localhost"; got != want {
		t.Errorf("parsed %q, want %q", got, want)
	}
	if n, err := ParseNetworks(""); err != nil || !n.IsZero() {
		t.Errorf("empty list: %v %v", n, err)
	}
	// A prefix wider than a refused range is fine: the addresses inside it are
	// still refused at dial.
	if _, err := ParseNetworks("0.0.0.0/0,::/0"); err != nil {
		t.Errorf("0.0.0.0/0: %v", err)
	}
	for _, bad := range []string{"169.254.169.254", "169.254.0.0/16", "169.254.1.0/24", "fe80::/64", "fd00:ec2::254",
		"100.100.100.200", "metadata.google.internal", "Metadata.Google.Internal.", "0.0.0.0", "224.0.0.0/8", "ff02::1",
		"http://idp.example", "idp.example:443", "*.corp.example", "10.0.0.0/33", "under_score.example", "::1%lo"} {
		if _, err := ParseNetworks("10.0.0.0/8," + bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Each rule of the address policy, as the dialer applies it to the host being
// dialled and the address it resolved to.
func TestADM07_AllowedNetworksRules(t *testing.T) {
	list := func(s string) Options { return Options{Networks: MustParseNetworks(s)} }
	tests := []struct {
		name  string
		o     Options
		host  string
		addr  string
		plain bool
		ok    bool
	}{
		{"public https", Options{}, "idp.example", "93.184.216.34", false, true},
		{"public http refused", list("0.0.0.0/0"), "idp.example", "93.184.216.34", true, false},
		{"RFC 1918 unlisted", Options{}, "idp.corp.example", "10.1.2.3", false, false},
		{"RFC 1918 in a listed CIDR", list("10.0.0.0/8"), "idp.corp.example", "10.1.2.3", false, true},
		{"RFC 1918 in another CIDR", list("192.168.0.0/16"), "idp.corp.example", "10.1.2.3", false, false},
		{"172.16/12 listed", list("172.16.0.0/12"), "", "172.31.255.1", false, true},
		{"host name listed", list("idp.corp.example"), "IDP.corp.example.", "10.1.2.3", false, true},
		{"another host name listed", list("sso.corp.example"), "idp.corp.example", "10.1.2.3", false, false},
		{"RFC 6598 unlisted", Options{}, "", "100.64.1.1", false, false},
		{"RFC 6598 listed", list("100.64.0.0/10"), "", "100.64.1.1", false, true},
		{"fc00::/7 unlisted", Options{}, "", "fd12::1", false, false},
		{"fc00::/7 listed", list("fc00::/7"), "", "fd12::1", false, true},
		{"mapped private listed as IPv4", list("10.0.0.0/8"), "", "::ffff:10.1.2.3", false, true},
		{"loopback unlisted", Options{}, "", "127.0.0.1", false, false},
		{"loopback listed", list("127.0.0.1"), "", "127.0.0.1", false, true},
		{"::1 listed", list("::1"), "", "::1", false, true},
		{"http to listed loopback", list("127.0.0.0/8"), "", "127.0.0.1", true, true},
		{"http to localhost listed by name", list("localhost"), "localhost", "127.0.0.1", true, true},
		{"http to listed private refused", list("10.0.0.0/8"), "", "10.1.2.3", true, false},
		{"http to unlisted loopback refused", list("10.0.0.0/8"), "", "127.0.0.1", true, false},
		{"link-local, everything listed", list("0.0.0.0/0,::/0,127.0.0.1"), "", "169.254.10.1", false, false},
		{"metadata, everything listed", list("0.0.0.0/0"), "", "169.254.169.254", false, false},
		{"metadata by listed host name", list("idp.corp.example"), "idp.corp.example", "169.254.169.254", false, false},
		{"fe80::/10, everything listed", list("::/0"), "", "fe80::1", false, false},
		{"AWS IPv6 metadata in a listed fc00::/7", list("fc00::/7"), "", "fd00:ec2::254", false, false},
		{"Alibaba metadata in a listed 100.64/10", list("100.64.0.0/10"), "", "100.100.100.200", false, false},
		{"NAT64 of metadata", list("0.0.0.0/0,::/0"), "", "64:ff9b::a9fe:a9fe", false, false},
		{"unspecified", list("0.0.0.0/0"), "", "0.0.0.0", false, false},
		{"multicast", list("0.0.0.0/0"), "", "224.0.0.1", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.check(tt.host, netip.MustParseAddr(tt.addr), tt.plain)
			if (err == nil) != tt.ok {
				t.Fatalf("check(%q, %s, http=%v) with %q = %v, want ok=%v", tt.host, tt.addr, tt.plain, tt.o.Networks, err, tt.ok)
			}
			if err != nil && (!errors.Is(err, ErrForbiddenAddress) || !strings.Contains(err.Error(), AllowedNetworksSetting)) {
				t.Fatalf("refusal %q does not name %s", err, AllowedNetworksSetting)
			}
		})
	}
}

// The same rules before anything is fetched, when an admin adds a provider.
func TestADM06_ADM07_CheckURL(t *testing.T) {
	list := func(s string) Options { return Options{Networks: MustParseNetworks(s)} }
	tests := []struct {
		url string
		o   Options
		ok  bool
	}{
		{"https://idp.example", Options{}, true},
		{"https://idp.corp.example", Options{}, true}, // a name: checked at dial, on every address it resolves to
		{"http://idp.example", Options{}, false},
		{"http://127.0.0.1:8080", Options{}, false},
		{"http://127.0.0.1:8080", list("127.0.0.1"), true},
		{"http://[::1]:8080", list("::1"), true},
		{"http://localhost:8080", list("localhost"), true},
		{"http://localhost:8080", list("127.0.0.0/8"), false}, // the name is not listed
		{"http://idp.corp.example", list("idp.corp.example"), false},
		{"http://10.0.0.5", list("10.0.0.0/8"), false},
		{"https://10.0.0.5", Options{}, false},
		{"https://10.0.0.5", list("10.0.0.0/8"), true},
		{"https://127.0.0.1", Options{}, false},
		{"https://169.254.169.254", list("0.0.0.0/0"), false},
		{"https://[fd00:ec2::254]", list("fc00::/7"), false},
		{"https://metadata.google.internal", list("0.0.0.0/0"), false},
		{"ftp://idp.example", list("0.0.0.0/0"), false},
		{"file:///etc/passwd", list("0.0.0.0/0"), false},
		{"idp.example", Options{}, false},
	}
	for _, tt := range tests {
		err := CheckURL(tt.url, tt.o)
		if (err == nil) != tt.ok {
			t.Errorf("CheckURL(%s) with %q = %v, want ok=%v", tt.url, tt.o.Networks, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("CheckURL(%s) = %v, not ErrForbiddenAddress", tt.url, err)
		}
	}
	// What an admin reads names the setting that allows it.
	for _, u := range []string{"http://127.0.0.1:8080", "https://10.0.0.5", "https://169.254.169.254"} {
		if err := CheckURL(u, Options{}); err == nil || !strings.Contains(err.Error(), AllowedNetworksSetting) {
			t.Errorf("CheckURL(%s) = %v, does not name %s", u, err, AllowedNetworksSetting)
		}
	}
}

// Real connections: the list decides at dial time, by address and by the host
// name being dialled, and a refused dial never reaches the server.
func TestADM07_AllowedNetworksDial(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	byName := (&url.URL{Scheme: "http", Host: net.JoinHostPort("localhost", port)}).String()
	for _, tt := range []struct {
		list, url string
		ok        bool
	}{
		{"", srv.URL, false},
		{"10.0.0.0/8,idp.corp.example", srv.URL, false},
		{"127.0.0.1", srv.URL, true},
		{"127.0.0.0/8", byName, true},
		{"localhost", byName, true},
		{"localhost", srv.URL, false}, // the address is not listed, nor is the host dialled
	} {
		before := hits.Load()
		resp, err := NewClient(Options{Networks: MustParseNetworks(tt.list)}).Get(tt.url)
		if err == nil {
			resp.Body.Close()
		}
		if (err == nil) != tt.ok {
			t.Errorf("GET %s with %q: %v, want ok=%v", tt.url, tt.list, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, ErrForbiddenAddress) || !strings.Contains(err.Error(), AllowedNetworksSetting) || hits.Load() != before) {
			t.Errorf("GET %s with %q: refusal %v does not name the setting, or the server was reached", tt.url, tt.list, err)
		}
	}
	// Refused by name before any lookup.
	if _, err := NewClient(Options{Networks: MustParseNetworks("0.0.0.0/0")}).Get("https://metadata.google.internal/computeMetadata/v1/"); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("metadata.google.internal: %v", err)
	}
}
