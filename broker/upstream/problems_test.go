package upstream

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
	"golang.org/x/text/language"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/oidc"
	"github.com/gatehouse/gatehouse/providers/saml"
	"github.com/gatehouse/gatehouse/templates"
)

// TestConfigProblemsAreCatalogueMessages: every problem the provider packages'
// own checks (oidc and saml Config.Validate, Mapping.Validate) report is a
// catalogue message of its own, not their English passed through: in English
// exactly their text (what the command line and the admin API print), in
// Welsh translated, quoting what was given as it was given (a % stays a %).
func TestConfigProblemsAreCatalogueMessages(t *testing.T) {
	_, cert, err := saml.GenerateKeyPair("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := saml.GenerateKeyPair("other", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	noSubject := providers.Mapping{Email: []string{"mail"}}
	errs := []error{
		oidc.Config{ClockSkew: -1, HTTPClient: &http.Client{}, Mapping: noSubject}.Validate(),
		oidc.Config{ID: "p", Issuer: "https://id.test/?q=100%", ClientID: "c", SigningAlgs: []string{"HS%256"},
			AuthParams: map[string]string{" ": "x", "state": "y"}}.Validate(),
		oidc.Config{ID: "p", Issuer: "h%s", ClientID: "c"}.Validate(),
		oidc.Config{ID: "p", Issuer: "http://10.0.0.1/%7e", ClientID: "c"}.Validate(),
		saml.Config{EntityID: "rel%", ACSURL: "https://a", SLOURL: "https://a", MetadataURL: "https://a", ClockSkew: -1,
			RequestBinding: "art%ifact", SPMetadataValidity: time.Second}.Validate(),
		saml.Config{ID: "s", EntityID: "https://a", ACSURL: "https://a", SLOURL: "https://a", MetadataURL: "https://a",
			IdPMetadata: &crewjam.EntityDescriptor{EntityID: "https://idp"}, Key: other, Certificate: cert}.Validate(),
	}
	var missing templates.Missing
	cy := templates.WithLocale(context.Background(), language.MustParse("cy"), &missing)
	seen := map[providers.ConfigCode]bool{}
	for _, err := range errs {
		var ce *providers.ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, providers.ErrConfig) {
			t.Fatalf("%v (%T) is not a ConfigError", err, err)
		}
		for _, p := range ce.Problems {
			seen[p.Code] = true
			if p.Code == providers.IdPMetadataUnusable {
				continue
			}
			m := configProblemMsg(p)
			welsh := m.In(cy)
			translated := welsh != p.Error() || p.Code == providers.IssuerRefused // safehttp's reason is English
			if m.Key == "%s" || m.English() != p.Error() || !translated || strings.Contains(welsh, "MISSING") {
				t.Errorf("code %d: key %q, English %q (provider's %q), Welsh %q", p.Code, m.Key, m.English(), p.Error(), welsh)
			}
			for _, a := range p.Args {
				if !strings.Contains(welsh, a) {
					t.Errorf("code %d: Welsh %q does not quote %q as given", p.Code, welsh, a)
				}
			}
			if p.Code == providers.MappingNoSubject {
				if m := mappingProblemMsg(KindOIDC, p); m.English() != "oidc."+p.Error() || m.In(cy) == m.English() {
					t.Errorf("the mapping's problem named after the kind: %q, Welsh %q", m.English(), m.In(cy))
				}
			}
		}
		// The error the CLI and the admin API print keeps its text; the console
		// gets the messages.
		pe := providerConfigErr(err)
		if pe.Error() != err.Error() || !errors.Is(pe, providers.ErrConfig) {
			t.Errorf("providerConfigErr changed the English:\n%q\nwant\n%q", pe.Error(), err.Error())
		}
		if msgs := Messages(pe); len(msgs) != len(ce.Problems) || strings.Join(templates.English(msgs), "\n") != strings.TrimPrefix(err.Error(), providers.ErrConfig.Error()+": ") {
			t.Errorf("Messages: %q", templates.English(msgs))
		}
	}
	if k := missing.Keys(); len(k) > 0 {
		t.Errorf("not in the Welsh catalogue: %q", k)
	}
	for c := providers.ConfigCode(1); !strings.HasPrefix((&providers.ConfigProblem{Code: c}).Error(), "provider configuration problem"); c++ {
		if !seen[c] {
			t.Errorf("code %d (%q) is not covered", c, (&providers.ConfigProblem{Code: c}).Error())
		}
	}
}
