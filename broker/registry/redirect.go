package registry

import (
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/templates"
)

// MatchRedirectURI reports whether requested is one of the registered redirect URIs
// of a client, public or not. Matching is by exact string equality (RFC 9700 §4.1.3,
// RFC 6749 §3.1.2.3): no normalisation, no prefixes, no case folding. The one
// exception is RFC 8252 §7.3, for public (native) clients only: a registered loopback
// IP redirect URI (http://127.0.0.1/… or http://[::1]/…) matches the same URI with
// any port, because a native app picks a free port at run time. A confidential
// client is a server with a fixed address: its port must match too.
func MatchRedirectURI(registered []string, requested string, public bool) bool {
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	if !public {
		return false
	}
	stripped, ok := stripLoopbackPort(requested)
	if !ok {
		return false
	}
	for _, r := range registered {
		if rs, ok := stripLoopbackPort(r); ok && rs == stripped {
			return true
		}
	}
	return false
}

// loopbackPrefixes are the loopback IP literal origins of RFC 8252 §7.3. "localhost"
// is deliberately absent (§8.3: it may resolve elsewhere).
var loopbackPrefixes = []string{"http://127.0.0.1", "http://[::1]"}

// stripLoopbackPort removes the port of a loopback IP redirect URI, working on the
// string alone so that nothing a URL parser would normalise (userinfo, case,
// percent-encoding) can make two different strings match. ok is false unless u is
// such a URI with an optional port of 1–5 digits followed by a path, query or end.
func stripLoopbackPort(u string) (string, bool) {
	for _, p := range loopbackPrefixes {
		rest, found := strings.CutPrefix(u, p)
		if !found {
			continue
		}
		if strings.HasPrefix(rest, ":") {
			i := 1
			for i < len(rest) && i <= 5 && rest[i] >= '0' && rest[i] <= '9' {
				i++
			}
			if i == 1 {
				return "", false // "http://127.0.0.1:" with no digits
			}
			rest = rest[i:]
		}
		if rest != "" && rest[0] != '/' && rest[0] != '?' {
			return "", false
		}
		return p + rest, true
	}
	return "", false
}

// ValidateRedirectURI checks a redirect URI an admin registers (RFC 6749 §3.1.2,
// RFC 8252 §7, AS-RED-04): absolute, no fragment, no wildcard; https, or http only
// on a loopback host; public (native) clients may also use a private-use scheme in
// reverse-domain form (com.example.app:/cb). javascript:, data: and other schemes are
// refused. Its error is a *Problem.
func ValidateRedirectURI(raw string, public bool) error {
	if raw == "" {
		return &Problem{templates.M("empty redirect URI")}
	}
	if strings.ContainsAny(raw, "*#\\ \t\r\n") {
		return &Problem{templates.M("redirect URI %q: no wildcards, fragments, backslashes or spaces", raw)}
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return &Problem{templates.M("redirect URI %q is not an absolute URI", raw)}
	}
	if u.User != nil {
		return &Problem{templates.M("redirect URI %q must not carry user info", raw)}
	}
	switch {
	case u.Scheme == "https":
		if u.Host == "" {
			return &Problem{templates.M("redirect URI %q has no host", raw)}
		}
	case u.Scheme == "http":
		if !isLoopback(u.Hostname()) {
			return &Problem{templates.M("redirect URI %q: http is allowed only on a loopback host (use https)", raw)}
		}
	case public && strings.Contains(u.Scheme, "."):
		// RFC 8252 §7.1: private-use URI scheme, reverse domain name of the app.
	default:
		return &Problem{templates.M("redirect URI %q: scheme %q is not allowed", raw, u.Scheme)}
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "127.0.0.1" || host == "::1" || host == "localhost"
}
