package admin

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crewjam/saml/samlsp"

	"github.com/gatehouse/gatehouse/broker/operations"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/upstream"
	"github.com/gatehouse/gatehouse/providers"
)

// The identity providers, in the admin API (this file) and the console
// (providers_console.go). Their changes go through operations (Create-,
// Update-, Enable-, Disable-, RemoveProvider), which record the audit event
// with the admin as actor and cut off what a disable or removal ends. The
// client secret is write-only (SECURITY.md ADM-12): no response, page or log
// carries it, only "client_secret_set".

// CertWarning is how long before an IdP certificate expires the console warns.
const CertWarning = 30 * 24 * time.Hour

// ProviderJSON is a provider as the admin API shows it.
type ProviderJSON struct {
	ID                string   `json:"id"`
	Kind              string   `json:"kind"`
	Name              string   `json:"name"`
	Enabled           bool     `json:"enabled"`
	Domains           []string `json:"domains"`
	TrustEmailLinking bool     `json:"trust_email_linking"`
	// OIDC: the settings; the secret only as ClientSecretSet.
	OIDC            *upstream.OIDCSettings `json:"oidc,omitempty"`
	ClientSecretSet bool                   `json:"client_secret_set"`
	SAML            *SAMLJSON              `json:"saml,omitempty"`
	Status          ProviderStatus         `json:"status"`
	Version         int64                  `json:"version"`
	CreatedAt       time.Time              `json:"created_at"`
	UpdatedAt       time.Time              `json:"updated_at"`
}

// SAMLJSON is a SAML provider's settings as shown, with what to give the IdP.
type SAMLJSON struct {
	SAMLInput
	MetadataFetchedAt *time.Time `json:"metadata_fetched_at,omitempty"`
	SPEntityID        string     `json:"sp_entity_id"`
	SPMetadataURL     string     `json:"sp_metadata_url"`
	SPACSURL          string     `json:"sp_acs_url"`
	SPCertificatePEM  string     `json:"sp_certificate_pem"`
}

// SAMLInput are the SAML settings an admin may set (upstream.SAMLSettings
// without what Gatehouse manages: the SP certificate, the fetch time).
type SAMLInput struct {
	upstream.Common
	MetadataURL            string            `json:"metadata_url,omitempty"`
	MetadataXML            string            `json:"metadata_xml,omitempty"`
	MetadataRefresh        upstream.Duration `json:"metadata_refresh,omitzero"`
	RequireSignedAssertion bool              `json:"require_signed_assertion,omitempty"`
	NameIDFormat           string            `json:"name_id_format,omitempty"`
	RequestBinding         string            `json:"request_binding,omitempty"`
	AllowIDPInitiated      bool              `json:"allow_idp_initiated,omitempty"`
	SPMetadataValidity     upstream.Duration `json:"sp_metadata_validity,omitzero"`
	EmailsVerified         bool              `json:"emails_verified,omitempty"`
	// SignRequests: absent means true (AuthnRequests signed); shown always.
	SignRequests               *bool `json:"sign_requests,omitempty"`
	RequireEncryptedAssertions bool  `json:"require_encrypted_assertions,omitempty"`
}

// ProviderStatus is how a provider is doing, from the audit log and the store.
type ProviderStatus struct {
	LastSignInAt *time.Time `json:"last_signin_at,omitempty"`
	LastErrorAt  *time.Time `json:"last_error_at,omitempty"`
	// LastError is the reason of the last refused sign-in.
	LastError    string `json:"last_error,omitempty"`
	LinkedPeople int    `json:"linked_people"`
	// SAML: the soonest expiry of the IdP's certificates, and whether it is
	// within CertWarning.
	CertExpiresAt *time.Time `json:"cert_expires_at,omitempty"`
	CertWarning   bool       `json:"cert_warning,omitempty"`
}

// ProviderInput is what the admin API accepts to add (POST) or replace (PUT)
// a provider; any other field is refused (ADM-03).
type ProviderInput struct {
	ID                string                 `json:"id,omitempty"`
	Kind              string                 `json:"kind"`
	Name              string                 `json:"name"`
	Domains           []string               `json:"domains,omitempty"`
	Enabled           *bool                  `json:"enabled,omitempty"`
	TrustEmailLinking bool                   `json:"trust_email_linking,omitempty"`
	OIDC              *upstream.OIDCSettings `json:"oidc,omitempty"`
	SAML              *SAMLInput             `json:"saml,omitempty"`
	// ClientSecret is write-only; empty on PUT keeps the stored one.
	ClientSecret string `json:"client_secret,omitempty"`
	// Version is required by PUT: the version the change was made from.
	Version int64 `json:"version,omitempty"`
}

func (in ProviderInput) spec() upstream.Spec {
	s := upstream.Spec{ID: in.ID, Kind: in.Kind, Name: in.Name, Domains: in.Domains, Enabled: in.Enabled,
		TrustEmailLinking: in.TrustEmailLinking, OIDC: in.OIDC, ClientSecret: in.ClientSecret}
	if in.SAML != nil {
		s.SAML = in.SAML.settings()
	}
	return s
}

func (in SAMLInput) settings() *upstream.SAMLSettings {
	return &upstream.SAMLSettings{Common: in.Common, MetadataURL: in.MetadataURL, MetadataXML: in.MetadataXML,
		MetadataRefresh: in.MetadataRefresh, RequireSignedAssertion: in.RequireSignedAssertion, NameIDFormat: in.NameIDFormat,
		RequestBinding: in.RequestBinding, AllowIDPInitiated: in.AllowIDPInitiated, SPMetadataValidity: in.SPMetadataValidity,
		EmailsVerified: in.EmailsVerified, SignRequests: in.SignRequests, RequireEncryptedAssertions: in.RequireEncryptedAssertions}
}

func samlInput(s upstream.SAMLSettings) SAMLInput {
	return SAMLInput{Common: s.Common, MetadataURL: s.MetadataURL, MetadataXML: s.MetadataXML, MetadataRefresh: s.MetadataRefresh,
		RequireSignedAssertion: s.RequireSignedAssertion, NameIDFormat: s.NameIDFormat, RequestBinding: s.RequestBinding,
		AllowIDPInitiated: s.AllowIDPInitiated, SPMetadataValidity: s.SPMetadataValidity, EmailsVerified: s.EmailsVerified,
		SignRequests: new(s.SignsRequests()), RequireEncryptedAssertions: s.RequireEncryptedAssertions}
}

// providerView is a stored provider decoded for showing: its settings, and
// whether a client secret is stored (never the secret).
type providerView struct {
	cfg       store.ProviderConfig
	oidc      *upstream.OIDCSettings
	saml      *upstream.SAMLSettings
	secretSet bool
}

func (a *Server) viewOf(cfg store.ProviderConfig) (providerView, error) {
	return viewOf(a.ops.Upstream.Keyring, cfg)
}

func viewOf(kr *seal.Keyring, cfg store.ProviderConfig) (providerView, error) {
	v := providerView{cfg: cfg}
	switch cfg.Kind {
	case upstream.KindOIDC:
		s, err := upstream.DecodeOIDC(cfg.Settings)
		if err != nil {
			return v, err
		}
		v.oidc = &s
		sec, err := upstream.OpenSecrets(kr, cfg)
		if err != nil {
			return v, err
		}
		v.secretSet = sec.ClientSecret != ""
	case upstream.KindSAML:
		s, err := upstream.DecodeSAML(cfg.Settings)
		if err != nil {
			return v, err
		}
		v.saml = &s
	}
	return v, nil
}

// signinActions are the audit actions of a sign-in at a provider (its target).
var signinActions = []string{"signin.succeeded", "signin.refused"}

// lastSignIns reads the last sign-in and the last refused one of each
// provider in ids, in one query (store.Audit.Latest), by action and target.
func (a *Server) lastSignIns(ctx context.Context, ids ...string) (map[[2]string]store.AuditEvent, error) {
	evs, err := a.ops.Store.Audit().Latest(ctx, signinActions, ids)
	if err != nil {
		return nil, err
	}
	out := map[[2]string]store.AuditEvent{}
	for _, e := range evs {
		out[[2]string{e.Action, e.Target}] = e
	}
	return out, nil
}

// status says how the provider is doing: its last sign-in and last refused
// one (from lastSignIns), the people linked at it, and for SAML its
// certificates' soonest expiry.
func (a *Server) status(ctx context.Context, v providerView, last map[[2]string]store.AuditEvent) (ProviderStatus, error) {
	var st ProviderStatus
	if e, ok := last[[2]string{"signin.succeeded", v.cfg.ID}]; ok {
		st.LastSignInAt = &e.Time
	}
	if e, ok := last[[2]string{"signin.refused", v.cfg.ID}]; ok {
		st.LastErrorAt = &e.Time
		st.LastError = reasonOf(e.Details)
	}
	var err error
	if st.LinkedPeople, err = a.ops.Store.Identities().CountForProvider(ctx, v.cfg.ID); err != nil {
		return st, err
	}
	if v.saml != nil {
		if certs := idpCerts(v.saml.MetadataXML); len(certs) > 0 {
			soonest := certs[0].NotAfter
			for _, c := range certs[1:] {
				if c.NotAfter.Before(soonest) {
					soonest = c.NotAfter
				}
			}
			st.CertExpiresAt = &soonest
			st.CertWarning = soonest.Sub(a.Now()) < CertWarning
		}
	}
	return st, nil
}

// reasonOf is the "reason" of a refusal's audit details.
func reasonOf(details []byte) string {
	const key = `"reason":"`
	s := string(details)
	i := strings.Index(s, key)
	if i < 0 {
		return "refused"
	}
	s = s[i+len(key):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return "refused"
}

// idpCerts are the certificates of SAML IdP metadata (its signing and
// encryption keys).
func idpCerts(metadataXML string) []*x509.Certificate {
	md, err := samlsp.ParseMetadata([]byte(metadataXML))
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for _, d := range md.IDPSSODescriptors {
		for _, k := range d.KeyDescriptors {
			for _, c := range k.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Data), ""))
				if err != nil {
					continue
				}
				if cert, err := x509.ParseCertificate(der); err == nil && !slices.ContainsFunc(out, cert.Equal) {
					out = append(out, cert)
				}
			}
		}
	}
	return out
}

func (a *Server) providerJSON(ctx context.Context, cfg store.ProviderConfig, last map[[2]string]store.AuditEvent) (ProviderJSON, error) {
	if last == nil {
		var err error
		if last, err = a.lastSignIns(ctx, cfg.ID); err != nil {
			return ProviderJSON{}, err
		}
	}
	v, err := a.viewOf(cfg)
	if err != nil {
		return ProviderJSON{}, err
	}
	out := v.json(a.web.Config.Issuer)
	out.Status, err = a.status(ctx, v, last)
	return out, err
}

// ProviderView is a stored provider as the admin API shows it, without its
// status (which needs the audit log): the command line's --json prints it,
// so both speak the same fields.
func ProviderView(issuer *url.URL, kr *seal.Keyring, cfg store.ProviderConfig) (ProviderJSON, error) {
	v, err := viewOf(kr, cfg)
	if err != nil {
		return ProviderJSON{}, err
	}
	return v.json(issuer), nil
}

func (v providerView) json(issuer *url.URL) ProviderJSON {
	cfg := v.cfg
	out := ProviderJSON{ID: cfg.ID, Kind: cfg.Kind, Name: cfg.Name, Enabled: cfg.Enabled, Domains: cfg.Domains,
		TrustEmailLinking: cfg.TrustEmailLinking, OIDC: v.oidc, ClientSecretSet: v.secretSet,
		Version: cfg.Version, CreatedAt: cfg.CreatedAt, UpdatedAt: cfg.UpdatedAt}
	if out.Domains == nil {
		out.Domains = []string{}
	}
	if v.saml != nil {
		ep := upstream.EndpointsFor(issuer, cfg.ID)
		out.SAML = &SAMLJSON{SAMLInput: samlInput(*v.saml), SPEntityID: ep.EntityID, SPMetadataURL: ep.Metadata,
			SPACSURL: ep.ACS, SPCertificatePEM: v.saml.SPCertificatePEM}
		if !v.saml.MetadataFetchedAt.IsZero() {
			out.SAML.MetadataFetchedAt = &v.saml.MetadataFetchedAt
		}
	}
	return out
}

// providerProblem maps an operation's error to a problem; a refused URL or
// configuration is 422 (ADM-06/07/15), an unreachable one too: the input
// cannot be used.
func providerProblem(err error) error {
	if errors.Is(err, providers.ErrUnavailable) {
		return invalidProblem([]string{"The provider could not be reached: " + unwrapMsg(err)})
	}
	return opProblem(err)
}

// unwrapMsg is err's message without the providers sentinel prefix: what went
// wrong with the admin's own URL, safe to show them (it names no secret).
func unwrapMsg(err error) string {
	msg := err.Error()
	for _, s := range []error{providers.ErrUnavailable, providers.ErrConfig} {
		msg = strings.TrimPrefix(msg, s.Error()+": ")
	}
	return msg
}

// --- Admin API ---

// ProviderList is GET /api/admin/v1/providers.
func (a *Server) ProviderList(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, _ person) error {
		list, err := a.ops.ListProviders(r.Context())
		if err != nil {
			return err
		}
		ids := make([]string, len(list))
		for i, cfg := range list {
			ids[i] = cfg.ID
		}
		last, err := a.lastSignIns(r.Context(), ids...)
		if err != nil {
			return err
		}
		out := []ProviderJSON{}
		for _, cfg := range list {
			p, err := a.providerJSON(r.Context(), cfg, last)
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return writeJSON(w, http.StatusOK, map[string]any{"providers": out})
	})
}

// ProviderGet is GET /api/admin/v1/providers/{id}.
func (a *Server) ProviderGet(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, _ person) error {
		cfg, err := a.ops.GetProvider(r.Context(), r.PathValue("id"))
		if err != nil {
			return opProblem(err)
		}
		p, err := a.providerJSON(r.Context(), cfg, nil)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, p)
	})
}

// ProviderCreate is POST /api/admin/v1/providers.
func (a *Server) ProviderCreate(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		var in ProviderInput
		if err := decode(r, &in); err != nil {
			return err
		}
		if in.Version != 0 {
			return problem(http.StatusBadRequest, "version is not accepted when adding a provider.")
		}
		ch, err := a.ops.CreateProvider(r.Context(), p.Actor, in.spec())
		if err != nil {
			return providerProblem(err)
		}
		out, err := a.providerJSON(r.Context(), ch.Provider, nil)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/api/admin/v1/providers/"+url.PathEscape(out.ID))
		return writeJSON(w, http.StatusCreated, out)
	})
}

// ProviderUpdate is PUT /api/admin/v1/providers/{id}: a whole replacement,
// from the version it names, but for the client secret (empty keeps it) and
// the state (absent keeps it).
func (a *Server) ProviderUpdate(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		id := r.PathValue("id")
		var in ProviderInput
		if err := decode(r, &in); err != nil {
			return err
		}
		if in.ID != "" && in.ID != id {
			return problem(http.StatusBadRequest, "The id in the body is not the one in the path; a provider's ID cannot change.")
		}
		if in.Version <= 0 {
			return problem(http.StatusBadRequest, "version is required: the version of the provider the change was made from.")
		}
		in.ID = id
		cur, err := a.ops.GetProvider(r.Context(), id)
		if err != nil {
			return opProblem(err)
		}
		if in.Enabled == nil {
			in.Enabled = &cur.Enabled
		}
		ch, err := a.ops.UpdateProvider(r.Context(), p.Actor, in.spec(), in.Version)
		if err != nil {
			return providerProblem(err)
		}
		out, err := a.providerJSON(r.Context(), ch.Provider, nil)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	})
}

// providerRefInput is the optional body of enable and disable: the version read.
type providerRefInput struct {
	Version int64 `json:"version,omitempty"`
}

func (a *Server) providerSwitch(w http.ResponseWriter, r *http.Request, change func(context.Context, operations.Actor, operations.ProviderRef) (operations.ProviderChange, error)) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		var in providerRefInput
		if r.ContentLength != 0 {
			if err := decode(r, &in); err != nil {
				return err
			}
		}
		ch, err := change(r.Context(), p.Actor, operations.ProviderRef{ID: r.PathValue("id"), Version: in.Version})
		if err != nil {
			return opProblem(err)
		}
		out, err := a.providerJSON(r.Context(), ch.Provider, nil)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	})
}

// ProviderEnable is POST /api/admin/v1/providers/{id}/enable.
func (a *Server) ProviderEnable(w http.ResponseWriter, r *http.Request) {
	a.providerSwitch(w, r, a.ops.EnableProvider)
}

// ProviderDisable is POST /api/admin/v1/providers/{id}/disable: sign-ins
// stop, and the sessions signed in with it end (operations' cut-off).
func (a *Server) ProviderDisable(w http.ResponseWriter, r *http.Request) {
	a.providerSwitch(w, r, a.ops.DisableProvider)
}

// ProviderDelete is DELETE /api/admin/v1/providers/{id}: the identities
// linked at it go, their sessions end.
func (a *Server) ProviderDelete(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		if _, err := a.ops.RemoveProvider(r.Context(), p.Actor, operations.ProviderRef{ID: r.PathValue("id")}); err != nil {
			return opProblem(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// DiscoveryJSON is an OP's discovery as the preview shows it.
type DiscoveryJSON struct {
	upstream.Discovery
	// PKCE: code_challenge_methods_supported includes S256.
	PKCE bool `json:"pkce_s256"`
}

// ProviderDiscover is POST /api/admin/v1/providers/discover {"issuer": …}:
// the OP's discovery, fetched through the outbound guard, for the admin to
// confirm before adding it. Stores nothing.
func (a *Server) ProviderDiscover(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, _ person) error {
		var in struct {
			Issuer string `json:"issuer"`
		}
		if err := decode(r, &in); err != nil {
			return err
		}
		d, err := a.ops.Upstream.FetchDiscovery(r.Context(), strings.TrimSpace(in.Issuer))
		if err != nil {
			return discoveryProblem(err)
		}
		return writeJSON(w, http.StatusOK, DiscoveryJSON{Discovery: d, PKCE: d.PKCE()})
	})
}

// discoveryProblem: whatever kept the discovery from being used is the
// admin's input refused (422), each problem listed.
func discoveryProblem(err error) error {
	if !errors.Is(err, providers.ErrConfig) && !errors.Is(err, providers.ErrUnavailable) {
		return err
	}
	return invalidProblem(discoveryProblems(err))
}

func discoveryProblems(err error) []string {
	msg := unwrapMsg(err)
	if errors.Is(err, providers.ErrUnavailable) {
		return []string{fmt.Sprintf("The issuer's discovery document could not be fetched: %s", msg)}
	}
	return strings.Split(msg, "\n")
}
