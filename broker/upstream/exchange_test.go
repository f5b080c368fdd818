package upstream

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/internal/testsupport"
	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/templates"
)

// TestExchangeSettingsFile: a providers file carries a provider's token-exchange
// settings (RFC 8693; SECURITY.md AS-TX-02) the same in JSON and YAML, and an
// unknown exchange field is refused like any other.
func TestExchangeSettingsFile(t *testing.T) {
	const asJSON = `{"id": "corp", "kind": "oidc", "name": "Corp",
		"oidc": {"issuer": "https://id.corp.example", "client_id": "gatehouse",
		         "exchange": {"enabled": true, "audiences": ["cli-app", "gatehouse"], "one_time": true, "create_users": true}}}`
	const asYAML = `
id: corp
kind: oidc
name: Corp
oidc:
  issuer: https://id.corp.example
  client_id: gatehouse
  exchange:
    enabled: true
    audiences: [cli-app, gatehouse]
    one_time: true
    create_users: true
`
	fromJSON, err := ParseSpec([]byte(asJSON))
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := ParseSpec([]byte(asYAML))
	if err != nil {
		t.Fatal(err)
	}
	want := ExchangeSettings{Enabled: true, Audiences: []string{"cli-app", "gatehouse"}, OneTime: true, CreateUsers: true}
	if !reflect.DeepEqual(fromJSON.OIDC.Exchange, want) || !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Fatalf("exchange settings read as\n%+v\n%+v", fromJSON.OIDC.Exchange, fromYAML.OIDC.Exchange)
	}
	if _, err := ParseSpec([]byte("id: corp\nkind: oidc\noidc:\n  exchange:\n    allowed: true\n")); err == nil {
		t.Error("an unknown exchange field was accepted")
	}
	// Off is the zero value and is not written: existing settings keep their bytes.
	b, err := encode(OIDCSettings{Issuer: "https://id.corp.example", ClientID: "gatehouse"})
	if err != nil || bytes.Contains(b, []byte("exchange")) {
		t.Errorf("settings without exchange encode as %s (%v)", b, err)
	}
}

func TestExchangeSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind string
		x    ExchangeSettings
		want string // "" for valid
	}{
		{"off", KindOIDC, ExchangeSettings{}, ""},
		{"oidc", KindOIDC, ExchangeSettings{Enabled: true, Audiences: []string{"cli-app"}, OneTime: true}, ""},
		{"oidc without audiences", KindOIDC, ExchangeSettings{Enabled: true}, "needs the ID-token audiences"},
		{"empty audience", KindOIDC, ExchangeSettings{Enabled: true, Audiences: []string{""}}, "audiences[0] is empty"},
		{"audience twice", KindOIDC, ExchangeSettings{Enabled: true, Audiences: []string{"a", "a"}}, `"a" is listed twice`},
		{"saml", KindSAML, ExchangeSettings{Enabled: true, CreateUsers: true}, ""},
		{"saml with audiences", KindSAML, ExchangeSettings{Enabled: true, Audiences: []string{"https://sp.example"}},
			"a SAML assertion's audience is the SP entity ID"},
	} {
		got := strings.Join(templates.English(Common{Exchange: tc.x}.validate(tc.kind)), "\n")
		if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestExchangeSettingsChangeBumpsVersion: turning exchange on, or changing one of
// its settings, is a change like any other: the stored version goes up, so every
// replica's registry rebuilds the provider with it. An unusable exchange setting
// is refused and nothing is stored.
func TestExchangeSettingsChangeBumpsVersion(t *testing.T) {
	ctx := context.Background()
	db := testsupport.OpenSQLite(t)
	ring, err := seal.NewKeyring(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Keyring: ring, Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
	spec := Spec{ID: "corp", Kind: KindOIDC, Name: "Corp", ClientSecret: "s",
		OIDC: &OIDCSettings{Issuer: "https://id.corp.example", ClientID: "gatehouse"}}
	upsert := func(x ExchangeSettings) (int64, error) {
		t.Helper()
		s := spec
		o := *spec.OIDC
		o.Exchange, s.OIDC = x, &o
		cfg, _, err := Upsert(ctx, db, env, s)
		return cfg.Version, err
	}
	if v, err := upsert(ExchangeSettings{}); err != nil || v != 1 {
		t.Fatalf("create: version %d, %v", v, err)
	}
	reg := NewRegistry(db.Providers(), env, time.Nanosecond, nil)
	if b, err := reg.Get(ctx, "corp"); err != nil || b.Common.Exchange.Enabled {
		t.Fatalf("built before: %+v %v", b, err)
	}
	on := ExchangeSettings{Enabled: true, Audiences: []string{"cli-app"}}
	if v, err := upsert(on); err != nil || v != 2 {
		t.Fatalf("exchange on: version %d, %v", v, err)
	}
	if v, err := upsert(on); err != nil || v != 2 {
		t.Fatalf("the same again: version %d, %v", v, err)
	}
	on.OneTime = true
	if v, err := upsert(on); err != nil || v != 3 {
		t.Fatalf("one_time on: version %d, %v", v, err)
	}
	reg.Invalidate()
	if b, err := reg.Get(ctx, "corp"); err != nil || !reflect.DeepEqual(b.Common.Exchange, on) {
		t.Fatalf("built after: %+v %v", b, err)
	}
	if _, err := upsert(ExchangeSettings{Enabled: true}); !errors.Is(err, providers.ErrConfig) {
		t.Fatalf("exchange without audiences: %v, want ErrConfig", err)
	}
	if p, err := db.Providers().Get(ctx, "corp"); err != nil || p.Version != 3 {
		t.Errorf("refused change stored: version %d, %v", p.Version, err)
	}
}
