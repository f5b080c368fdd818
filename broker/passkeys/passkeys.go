// Package passkeys is Gatehouse's WebAuthn relying party (issue 15): people
// register security keys and passkeys on their account, and use one to step up
// a session when an application asks for web.ACRSecurityKey or a policy
// requires it (web.Core.SecurityKeyRequired).
package passkeys

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/config"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// ceremonyTTL bounds a ceremony, from its options to its answer (WebAuthn L2
// §5.4.1 timeout, enforced here too).
const ceremonyTTL = 5 * time.Minute

// Options are the Server's dependencies.
type Options struct {
	Web *web.Core
	Now func() time.Time
}

// Server serves the security-key pages and ceremonies.
type Server struct {
	cfg   *config.Config
	store store.Store
	audit *audit.Writer
	log   *slog.Logger
	web   *web.Core
	Now   func() time.Time
	rp    *webauthn.WebAuthn // nil: WebAuthn is not available (config.WebAuthnAvailable)
}

// New builds the relying party: its ID is the issuer's host and its one origin
// the issuer's origin (WebAuthn L2 §5.1.3 step 8, §7.1 steps 9 and 13).
func New(o Options) (*Server, error) {
	if o.Web == nil || o.Now == nil {
		return nil, errors.New("passkeys: every option is required")
	}
	cfg := o.Web.Config
	s := &Server{cfg: cfg, store: o.Web.Store, audit: o.Web.Audit, log: o.Web.Log, web: o.Web, Now: o.Now}
	if !cfg.WebAuthnAvailable() {
		// An issuer at an IP address: no relying party, and the pages say
		// so (errUnavailable); config refuses a policy requiring keys.
		return s, nil
	}
	name := cfg.Brand.Name
	if name == "" {
		name = "Gatehouse"
	}
	// The browser is told the timeout; the server enforces it with its own
	// clock (takeCeremony), like every other expiry.
	timeouts := webauthn.TimeoutConfig{Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL}
	rp, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.Issuer.Hostname(),
		RPDisplayName:         name,
		RPOrigins:             []string{cfg.Issuer.Scheme + "://" + cfg.Issuer.Host},
		AttestationPreference: protocol.ConveyancePreference(cfg.WebAuthnAttestation),
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.UserVerificationRequirement(cfg.WebAuthnUserVerification),
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeouts, Registration: timeouts},
	})
	if err != nil {
		return nil, err
	}
	s.rp = rp
	return s, nil
}

var errUnavailable = &web.UserError{Status: http.StatusNotFound, Title: "Security keys not available",
	Message: "Security keys and passkeys cannot be used at this address.",
	Next:    "Ask your administrator: Gatehouse must be reached by a domain name, not an IP address."}

// available refuses every page and ceremony when there is no relying party.
func (s *Server) available() error {
	if s.rp == nil {
		return errUnavailable
	}
	return nil
}

// person is a Gatehouse user as WebAuthn sees them (WebAuthn L2 §5.4.3): the
// user handle is the user's ID, random and free of personal data.
type person struct {
	u    store.User
	keys []store.SecurityKey
}

func (p person) WebAuthnID() []byte { return []byte(p.u.ID) }
func (p person) WebAuthnName() string {
	if p.u.Email != "" {
		return p.u.Email
	}
	return web.DisplayName(p.u)
}
func (p person) WebAuthnDisplayName() string { return web.DisplayName(p.u) }
func (p person) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(p.keys))
	for _, k := range p.keys {
		out = append(out, credential(k))
	}
	return out
}

// credential is the library's credential record of k.
func credential(k store.SecurityKey) webauthn.Credential {
	tr := make([]protocol.AuthenticatorTransport, 0, len(k.Transports))
	for _, t := range k.Transports {
		tr = append(tr, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{ID: k.CredentialID, PublicKey: k.PublicKey, AttestationFormat: k.AttestationFormat,
		Transport: tr,
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: k.UserVerified,
			BackupEligible: k.BackupEligible, BackupState: k.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount, CloneWarning: k.CloneWarning,
			Attachment: protocol.AuthenticatorAttachment(k.Attachment)}}
}

// isPasskey: a platform authenticator's credential, or one that may be synced
// (backup eligible) — a key that lives in software the platform manages, amr
// swk (RFC 8176 §2); a roaming, device-bound key is hwk.
func isPasskey(k store.SecurityKey) bool {
	return k.Attachment == string(protocol.Platform) || k.BackupEligible
}

// kindOf names what k is on the pages.
func kindOf(k store.SecurityKey) string {
	if isPasskey(k) {
		return "Passkey"
	}
	return "Security key"
}

// ceremonyKey is where the browser cookie keeps a running ceremony.
const ceremonyKey = "webauthn"

// ceremony is a running ceremony's state, in the encrypted browser cookie so
// that any replica can finish it: which one, for which session, and the
// library's session data with the challenge.
type ceremony struct {
	Kind    string               `json:"k"` // "register" or "authenticate"
	Session string               `json:"s"` // the Gatehouse session's ID
	Expires int64                `json:"e"` // Unix seconds
	Data    webauthn.SessionData `json:"d"`
}

func (s *Server) saveCeremony(w http.ResponseWriter, r *http.Request, c ceremony) error {
	c.Expires = s.Now().Add(ceremonyTTL).Unix()
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	bs := s.web.BrowserState(r)
	bs.Values[ceremonyKey] = string(b)
	return bs.Save(r, w)
}

var errNoCeremony = errors.New("passkeys: no ceremony")

// takeCeremony returns the browser's ceremony of kind for sess and forgets it.
// It is used once on every replica: its challenge goes into the replay cache,
// so a copy of the cookie from before cannot finish another.
func (s *Server) takeCeremony(w http.ResponseWriter, r *http.Request, kind string, sess store.Session) (webauthn.SessionData, error) {
	bs := s.web.BrowserState(r)
	raw, _ := bs.Values[ceremonyKey].(string)
	if raw == "" {
		return webauthn.SessionData{}, errNoCeremony
	}
	delete(bs.Values, ceremonyKey)
	if err := bs.Save(r, w); err != nil {
		return webauthn.SessionData{}, err
	}
	var c ceremony
	if json.Unmarshal([]byte(raw), &c) != nil || c.Kind != kind || c.Session != sess.ID || c.Data.Challenge == "" {
		return webauthn.SessionData{}, errNoCeremony
	}
	now, expires := s.Now(), time.Unix(c.Expires, 0)
	if !now.Before(expires) {
		return webauthn.SessionData{}, errNoCeremony
	}
	if err := s.store.Replay().Remember(r.Context(), "webauthn:"+c.Data.Challenge, expires, now); err != nil {
		if errors.Is(err, store.ErrAlreadyUsed) {
			return webauthn.SessionData{}, errNoCeremony
		}
		return webauthn.SessionData{}, err
	}
	return c.Data, nil
}

// writeJSON answers a ceremony's POST.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	web.WriteNoStoreJSON(w, status, b)
	return nil
}

// refusal is a ceremony's refusal: the message is safe to show, reason is
// for the audit log.
type refusal struct {
	Message string `json:"message"`
}

// refuse audits a refused ceremony (SECURITY.md §0: one audit line per
// security-relevant rejection) and tells the page why, in words.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, actor, target, reason, message string) error {
	s.web.Record(r, actor, "securitykey.refused", target, map[string]any{"reason": reason})
	s.log.WarnContext(r.Context(), "security key ceremony refused", "request_id", web.RequestID(r.Context()), "reason", reason)
	return writeJSON(w, http.StatusBadRequest, refusal{Message: said(r, message)})
}

// said is a refusal's message in the language of the page that asked
// (web.PageLocale): webauthn.js shows it as it is, in that page's status line.
func said(r *http.Request, message string) string {
	return templates.T(templates.WithLocale(r.Context(), web.PageLocale(r), nil), message)
}

// usable are the keys that may be used: not flagged as cloned.
func usable(keys []store.SecurityKey) []store.SecurityKey {
	return slices.DeleteFunc(slices.Clone(keys), func(k store.SecurityKey) bool { return k.CloneWarning })
}
