package upstream

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
	"golang.org/x/text/language"

	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/providers/oidc"
	"github.com/gatehouse/gatehouse/providers/saml"
	"github.com/gatehouse/gatehouse/templates"
)

// TestConfigProblemsAreCatalogueMessages: every problem the provider packages'
// own checks (oidc and saml Config.Validate, Mapping.Validate, and
// saml.ParseIdPMetadata's checks of IdP metadata) report is a
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
	errs = append(errs, metadataErrors(t, base64.StdEncoding.EncodeToString(cert.Raw))...)
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
			// safehttp's and the XML parser's reasons are English.
			translated := welsh != p.Error() || p.Code == providers.IssuerRefused || p.Code == providers.MetadataUnparsable
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

// metadataErrors are saml.ParseIdPMetadata's refusals of one document each,
// certData being a usable signing certificate.
func metadataErrors(t *testing.T, certData string) []error {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	edDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	md := func(entity, cert, sso, slo string) string {
		s := `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"` + entity +
			`><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">`
		if cert != "" {
			s += `<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>` +
				cert + `</X509Certificate></X509Data></KeyInfo></KeyDescriptor>`
		}
		if slo != "" {
			s += `<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="` + slo + `"/>`
		}
		if sso != "" {
			s += `<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="` + sso + `"/>`
		}
		return s + `</IDPSSODescriptor></EntityDescriptor>`
	}
	e, sso := ` entityID="https://idp.test"`, "https://idp.test/sso"
	var out []error
	for _, doc := range []string{strings.Repeat("x", saml.MaxMetadataBytes+1), `<!DOCTYPE x><x/>`, "not xml",
		md("", certData, sso, ""), `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.test"></EntityDescriptor>`,
		md(e, "!!!", sso, ""), md(e, "AAAA", sso, ""), md(e, base64.StdEncoding.EncodeToString(edDER), sso, ""),
		md(e, certData, "http://idp.test/sso%25", ""), md(e, certData, sso, "http://idp.test/slo%25"), md(e, "", sso, ""), md(e, certData, "", ""),
	} {
		_, err := saml.ParseIdPMetadata([]byte(doc), saml.MetadataOptions{})
		if err == nil {
			t.Fatalf("metadata accepted: %.80s", doc)
		}
		out = append(out, err)
	}
	return out
}

// TestSecretsThatDoNotOpenInWelsh: an edit of a provider whose stored secrets
// do not open (sealed under another master key; or tampered with) is refused with the problem
// said in the page's language; in English it is the text it always was, the
// sentinel's words first.
func TestSecretsThatDoNotOpenInWelsh(t *testing.T) {
	ring := func(b byte) *seal.Keyring {
		r, err := seal.NewKeyring(bytes.Repeat([]byte{b}, seal.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	sealed, err := SealSecrets(ring(1), "corp", Secrets{ClientSecret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	old := store.ProviderConfig{ID: "corp", Kind: KindOIDC, SecretsEnc: sealed}
	env := Env{Keyring: ring(2)}
	var missing templates.Missing
	cy := templates.WithLocale(context.Background(), language.MustParse("cy"), &missing)
	_, openErr := OpenSecrets(env.Keyring, old)
	if openErr == nil {
		t.Fatal("secrets opened under another key")
	}
	// Tampered with: the other refusal of seal.
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	_, tamperErr := OpenSecrets(ring(1), store.ProviderConfig{ID: "corp", SecretsEnc: tampered})
	if m := Messages(tamperErr); len(m) != 1 || m[0].English() != strings.TrimPrefix(tamperErr.Error(), providers.ErrConfig.Error()+": ") ||
		m[0].In(cy) != "cyfrinachau’r darparwr corp: seal: ni ellir dadgryptio: data camffurfiedig, data yr ymyrrwyd ag ef, neu ddata sydd wedi’i rwymo i ddata arall" {
		t.Errorf("tampered secrets: %q, Welsh %q", templates.English(m), m[0].In(cy))
	}
	_, err = env.configFromSpec(context.Background(), Spec{ID: "corp", Kind: KindOIDC, Name: "Corp",
		OIDC: &OIDCSettings{Issuer: "https://id.corp.example", ClientID: "gatehouse"}}, old, false)
	msgs := Messages(err)
	if len(msgs) != 1 || msgs[0].English() != openErr.Error() || msgs[0].In(cy) != "ni ellir defnyddio ffurfweddiad y darparwr: cyfrinachau’r darparwr corp: seal: wedi’i selio ag allwedd feistr nad yw yn y cylch allweddi" ||
		len(missing.Keys()) > 0 {
		t.Errorf("messages %q, Welsh %q, want the English %q", templates.English(msgs), msgs[0].In(cy), openErr.Error())
	}
}
