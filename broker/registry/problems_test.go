package registry

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/gatehouse/gatehouse/broker/mtls"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/templates"
)

// TestProblemsAreCatalogueMessages: a validator's problems are catalogue
// messages that quote what was typed as an argument. In English they are
// today's text (the CLI, the admin API and ValidateClient's error print it),
// with a % typed staying a %; in Welsh every one is translated, with the same
// typed text in it.
func TestProblemsAreCatalogueMessages(t *testing.T) {
	c := store.Client{ID: "portal", GrantTypes: []string{GrantAuthorizationCode, "pass%word"},
		RedirectURIs: []string{"http://portal.test/cb?q=100%"}, PostLogoutRedirectURIs: []string{"https://portal.test/out#x"},
		TokenEndpointAuthMethod: AuthNone, Public: true}
	clientWant := []string{
		`grant type "pass%word" is not one of ` + strings.Join(GrantTypes, ", "),
		`redirect URI "http://portal.test/cb?q=100%": http is allowed only on a loopback host (use https)`,
		`post-logout redirect URI "https://portal.test/out#x": no wildcards, fragments, backslashes or spaces`,
	}
	a := store.API{Audience: "https://api.test/a%b#f", Scopes: []store.Scope{{Name: "read"}, {Name: "read"}}}
	apiWant := []string{
		`audience "https://api.test/a%b#f" must be an absolute URI without a fragment`,
		"name is required",
		`scope "read" is listed twice`,
	}
	for _, tc := range []struct {
		name  string
		msgs  []templates.Msg
		err   error
		want  []string
		typed []string
	}{
		{"client", ClientProblems(c), ValidateClient(c), clientWant, []string{`"pass%word"`, `"http://portal.test/cb?q=100%"`, `"https://portal.test/out#x"`}},
		{"API", APIProblems(a), ValidateAPI(a), apiWant, []string{`"https://api.test/a%b#f"`, "", `"read"`}},
	} {
		if got := templates.English(tc.msgs); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: English problems\n%q\nwant\n%q", tc.name, got, tc.want)
		}
		if tc.err == nil || tc.err.Error() != strings.Join(tc.want, "; ") {
			t.Errorf("%s: error %v, want %q", tc.name, tc.err, strings.Join(tc.want, "; "))
		}
		var missing templates.Missing
		cy := templates.WithLocale(context.Background(), language.MustParse("cy"), &missing)
		for i, m := range tc.msgs {
			welsh := m.In(cy)
			if welsh == tc.want[i] || !strings.Contains(welsh, tc.typed[i]) || strings.Contains(welsh, "MISSING") {
				t.Errorf("%s: %q in Welsh is %q", tc.name, tc.want[i], welsh)
			}
		}
		if k := missing.Keys(); len(k) > 0 {
			t.Errorf("%s: not in the Welsh catalogue: %q", tc.name, k)
		}
	}
}

// TestValidatorErrorsCarryTheirMessage: the errors of ValidateRedirectURI,
// ValidateJWKS and ValidateIDTokenAlg are Problems whose text is the English of
// their message; ProblemMsg shows another error's text as it is.
func TestValidatorErrorsCarryTheirMessage(t *testing.T) {
	for _, err := range []error{
		ValidateRedirectURI("https://a.test/%zz", false),
		ValidateJWKS([]byte("{")),
		ValidateIDTokenAlg(store.Client{IDTokenSignedResponseAlg: "EdDSA"}, []string{"RS256"}),
	} {
		var p *Problem
		if !errors.As(err, &p) || p.Msg.Key == "%s" || p.Msg.English() != err.Error() || ProblemMsg(err).Key != p.Msg.Key {
			t.Errorf("%v (%T) is not a Problem with its message", err, err)
		}
	}
	if m := ProblemMsg(errors.New("100% odd")); m.English() != "100% odd" {
		t.Errorf("ProblemMsg of a plain error says %q", m.English())
	}
}

// TestSubjectProblemsAreCatalogueMessages: every kind of certificate-subject
// problem broker/mtls reports is a catalogue message of its own (not the
// English passed through), whose English is exactly mtls's (what the command
// line and the admin API print) and whose Welsh is translated, quoting what
// was registered as typed.
func TestSubjectProblemsAreCatalogueMessages(t *testing.T) {
	subjects := []mtls.Subject{{}, {IP: "10.0.0.1%x"}, {DN: "fleet%"}, {DN: "XX=a%"}, {DN: "CN=#04%"},
		{DN: `CN=a%\`}, {DN: `CN=a%\q`}, {DN: "CN=a<b%"}, {DN: "CN=% ,O="}}
	seen := map[mtls.ProblemKind]bool{}
	for _, s := range subjects {
		p := s.Problem()
		if p == nil {
			t.Fatalf("%+v: no problem", s)
		}
		seen[p.Kind] = true
		m := subjectProblemMsg(p)
		var missing templates.Missing
		cy := templates.WithLocale(context.Background(), language.MustParse("cy"), &missing)
		welsh, v := m.In(cy), s.DN+s.IP
		if m.Key == "%s" || m.English() != p.Error() || welsh == p.Error() || (v != "" && !strings.Contains(welsh, strconv.Quote(v))) ||
			strings.Contains(welsh, "MISSING") || len(missing.Keys()) > 0 {
			t.Errorf("%+v: key %q, English %q (mtls %q), Welsh %q, missing %q", s, m.Key, m.English(), p.Error(), welsh, missing.Keys())
		}
		c := store.Client{ID: "fleet", GrantTypes: []string{GrantClientCredentials}, TokenEndpointAuthMethod: AuthTLSClient,
			TLSClientAuthSubjectDN: s.DN, TLSClientAuthSANIP: s.IP}
		if got := ClientProblems(c); len(got) != 1 || got[0].Key != m.Key {
			t.Errorf("%+v: ClientProblems %v, want the one message %q", s, got, m.Key)
		}
	}
	for k := mtls.ProblemKind(1); !strings.HasPrefix((&mtls.Problem{Kind: k}).Error(), "certificate subject problem"); k++ {
		if !seen[k] {
			t.Errorf("kind %d (%q) is not covered", k, (&mtls.Problem{Kind: k}).Error())
		}
	}
}
