package providers

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestMappingApply(t *testing.T) {
	tests := []struct {
		name    string
		m       Mapping
		claims  map[string]any
		want    Identity
		wantErr error
	}{
		{
			name: "oidc standard claims",
			m:    DefaultOIDCMapping(),
			claims: map[string]any{"sub": "u1", "email": "a@corp.example", "email_verified": true,
				"name": "Alice", "groups": []any{"eng", "eng", "ops", 7}},
			want: Identity{ProviderID: "p", Subject: "u1", Email: "a@corp.example", EmailVerified: true,
				Name: "Alice", Groups: []string{"eng", "ops"}},
		},
		{
			name:   "OIDC23 email_verified absent is unverified",
			m:      DefaultOIDCMapping(),
			claims: map[string]any{"sub": "u1", "email": "a@corp.example"},
			want:   Identity{ProviderID: "p", Subject: "u1", Email: "a@corp.example"},
		},
		{
			name:   "OIDC23 email_verified false",
			m:      DefaultOIDCMapping(),
			claims: map[string]any{"sub": "u1", "email": "a@corp.example", "email_verified": "false"},
			want:   Identity{ProviderID: "p", Subject: "u1", Email: "a@corp.example"},
		},
		{
			name:   "name from given and family",
			m:      DefaultOIDCMapping(),
			claims: map[string]any{"sub": "u1", "given_name": "Ada", "family_name": "Lovelace"},
			want:   Identity{ProviderID: "p", Subject: "u1", Name: "Ada Lovelace"},
		},
		{
			name:    "OIDC10 missing sub",
			m:       DefaultOIDCMapping(),
			claims:  map[string]any{"email": "a@corp.example"},
			wantErr: ErrInvalidResponse,
		},
		{
			name:    "OIDC10 non-string sub",
			m:       DefaultOIDCMapping(),
			claims:  map[string]any{"sub": 42.0},
			wantErr: ErrInvalidResponse,
		},
		{
			name: "saml eduPerson",
			m:    DefaultSAMLMapping(),
			claims: map[string]any{NameIDClaim: "alice", attrMail: []string{"alice@corp.example"},
				attrCN: []string{"Alice A"}, attrIsMemberOf: []string{"staff"}},
			want: Identity{ProviderID: "p", Subject: "alice", Email: "alice@corp.example", Name: "Alice A",
				Groups: []string{"staff"}},
		},
		{
			name: "saml azure ad",
			m:    DefaultSAMLMapping(),
			claims: map[string]any{NameIDClaim: "x1", wsClaims + "emailaddress": []string{"b@corp.example"},
				wsClaims + "givenname": []string{"Bob"}, wsClaims + "surname": []string{"B"},
				msGroups: []string{"g1", "g2"}},
			want: Identity{ProviderID: "p", Subject: "x1", Email: "b@corp.example", Name: "Bob B",
				Groups: []string{"g1", "g2"}},
		},
		{
			name:   "saml plain names with assumed verification",
			m:      func() Mapping { m := DefaultSAMLMapping(); m.AssumeEmailVerified = true; return m }(),
			claims: map[string]any{NameIDClaim: "c", "mail": []string{"c@corp.example"}, "memberOf": []string{"cn=x"}},
			want: Identity{ProviderID: "p", Subject: "c", Email: "c@corp.example", EmailVerified: true,
				Groups: []string{"cn=x"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.Apply("p", tt.claims)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got.Subject != "" {
					t.Fatalf("Apply = %+v, %v; want error %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != tt.want.Subject || got.Email != tt.want.Email || got.EmailVerified != tt.want.EmailVerified ||
				got.Name != tt.want.Name || !slices.Equal(got.Groups, tt.want.Groups) || got.ProviderID != "p" {
				t.Errorf("Apply = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPublicMessageNeverLeaksDetail(t *testing.T) {
	errs := []error{
		Invalid("secret internal detail %s", "x"),
		&UpstreamError{Code: "access_denied", Description: "<script>"},
		&UpstreamError{Code: "server_error", Description: "<script>"},
		ErrReplay, ErrUnavailable, ErrConfig, errors.New("boom"),
	}
	for _, err := range errs {
		msg := PublicMessage(err)
		if msg == "" || slices.ContainsFunc([]string{"secret", "<script>", "boom", "providers:"}, func(s string) bool {
			return strings.Contains(msg, s)
		}) {
			t.Errorf("PublicMessage(%v) = %q", err, msg)
		}
	}
	if !errors.Is(&UpstreamError{Code: "x"}, ErrUpstream) {
		t.Error("UpstreamError is not ErrUpstream")
	}
}
