package passkeys

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// Paths of the account's security keys.
const (
	KeysPath     = "/account/security-keys"
	optionsPath  = KeysPath + "/options"
	maxKeyName   = 60
	maxKeysOfOne = 20 // DOS-12: far above what a person uses
)

// mayChange says whether sess may add or remove keys: a person who has a
// usable key changes them only after using one, so that whoever has only the
// upstream sign-in cannot add their own key or take the person's away.
func mayChange(sess store.Session, keys []store.SecurityKey) bool {
	return len(usable(keys)) == 0 || web.SteppedUp(sess)
}

// HandleKeys is the account page of the person's security keys and passkeys.
func (s *Server) HandleKeys(w http.ResponseWriter, r *http.Request) error {
	if err := s.available(); err != nil {
		return err
	}
	sess, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	ctx := r.Context()
	keys, err := s.store.SecurityKeys().ListForUser(ctx, u.ID)
	if err != nil {
		return err
	}
	required, err := s.web.SecurityKeyRequired(ctx, sess)
	if err != nil {
		return err
	}
	now := s.Now()
	v := templates.SecurityKeysView{Page: templates.Page{Title: "Security keys and passkeys", SignedInAs: web.DisplayName(u)},
		Required: required, CanAdd: mayChange(sess, keys) && len(keys) < maxKeysOfOne, AtLimit: len(keys) >= maxKeysOfOne,
		StepUpURL: web.StepUpURL(r.URL.RequestURI()), ReturnTo: web.LocalReturnTo(r.URL.Query().Get("return_to"), "")}
	for _, k := range keys {
		v.Keys = append(v.Keys, templates.SecurityKeyRow{ID: k.ID, Name: k.Name, Kind: kindOf(k),
			Added: templates.When{At: k.CreatedAt, Now: now}, LastUsed: templates.When{At: k.LastUsedAt, Now: now},
			Used: !k.LastUsedAt.IsZero(), CloneWarning: k.CloneWarning})
	}
	// What just happened, said only when it is so (a crafted link cannot
	// make the page claim it).
	q := r.URL.Query()
	if id := q.Get("added"); id != "" && slices.ContainsFunc(keys, func(k store.SecurityKey) bool { return k.ID == id }) {
		v.Notice = "Your security key was added."
	}
	if id := q.Get("removed"); id != "" && !slices.ContainsFunc(keys, func(k store.SecurityKey) bool { return k.ID == id }) {
		v.Notice = "The security key was removed."
	}
	if v.CSRFOptions, err = s.web.CSRFToken(w, r, optionsPath); err != nil {
		return err
	}
	if v.CSRFRegister, err = s.web.CSRFToken(w, r, KeysPath); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return web.Render(w, r, http.StatusOK, templates.SecurityKeys(v))
}

// errSignedOut answers a ceremony POST from a browser whose session ended.
var errSignedOut = &web.UserError{Status: http.StatusUnauthorized, Title: "Signed out",
	Message: "You are no longer signed in.", Next: "Sign in again, then try again."}

// HandleRegisterOptions starts a registration (WebAuthn L2 §7.1): the
// creation options, the person's keys excluded (§5.4.3 excludeCredentials).
func (s *Server) HandleRegisterOptions(w http.ResponseWriter, r *http.Request) error {
	if err := s.available(); err != nil {
		return err
	}
	sess, u, ok := s.web.CurrentSession(r)
	if !ok {
		return errSignedOut
	}
	keys, err := s.store.SecurityKeys().ListForUser(r.Context(), u.ID)
	if err != nil {
		return err
	}
	if !mayChange(sess, keys) || len(keys) >= maxKeysOfOne {
		return s.refuse(w, r, u.ID, u.ID, "step_up_required", "Use one of your keys first, then add another.")
	}
	p := person{u: u, keys: keys}
	creation, data, err := s.rp.BeginRegistration(p, webauthn.WithExclusions(webauthn.Credentials(p.WebAuthnCredentials()).CredentialDescriptors()))
	if err != nil {
		return err
	}
	if err := s.saveCeremony(w, r, ceremony{Kind: "register", Session: sess.ID, Data: *data}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, creation)
}

// HandleRegister finishes a registration: the attestation is verified
// (WebAuthn L2 §7.1 steps 5–26) and the credential record stored.
func (s *Server) HandleRegister(w http.ResponseWriter, r *http.Request) error {
	if err := s.available(); err != nil {
		return err
	}
	sess, u, ok := s.web.CurrentSession(r)
	if !ok {
		return errSignedOut
	}
	ctx := r.Context()
	data, err := s.takeCeremony(w, r, "register", sess)
	if errors.Is(err, errNoCeremony) {
		return s.refuse(w, r, u.ID, u.ID, "no_ceremony", "This took too long or was already used. Try again.")
	} else if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len([]rune(name)) > maxKeyName || strings.ContainsFunc(name, unicode.IsControl) {
		return writeJSON(w, http.StatusBadRequest, refusal{Message: said(r, "Give the key a name of at most 60 characters.")})
	}
	keys, err := s.store.SecurityKeys().ListForUser(ctx, u.ID)
	if err != nil {
		return err
	}
	if !mayChange(sess, keys) || len(keys) >= maxKeysOfOne {
		return s.refuse(w, r, u.ID, u.ID, "step_up_required", "Use one of your keys first, then add another.")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(r.PostFormValue("credential")))
	if err != nil {
		return s.refuse(w, r, u.ID, u.ID, "malformed_credential", "")
	}
	cred, err := s.rp.CreateCredential(person{u: u, keys: keys}, data, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "security key registration not verified", "request_id", web.RequestID(ctx), "error", err.Error())
		return s.refuse(w, r, u.ID, u.ID, "registration_not_verified", "")
	}
	k := store.SecurityKey{ID: token.NewID(), UserID: u.ID, CredentialID: cred.ID, PublicKey: cred.PublicKey,
		AttestationFormat: cred.AttestationFormat, AAGUID: cred.Authenticator.AAGUID, SignCount: cred.Authenticator.SignCount,
		Attachment: string(cred.Authenticator.Attachment), BackupEligible: cred.Flags.BackupEligible,
		BackupState: cred.Flags.BackupState, UserVerified: cred.Flags.UserVerified, Name: name, CreatedAt: s.Now()}
	for _, t := range cred.Transport {
		k.Transports = append(k.Transports, string(t))
	}
	if err := s.store.SecurityKeys().Create(ctx, k); errors.Is(err, store.ErrConflict) {
		return s.refuse(w, r, u.ID, u.ID, "credential_registered", "This key is already registered.")
	} else if err != nil {
		return err
	}
	s.web.Record(r, u.ID, "securitykey.registered", k.ID, map[string]any{"kind": kindOf(k), "attestation": k.AttestationFormat})
	next := web.LocalReturnTo(r.PostFormValue("return_to"), "")
	if next == "" {
		next = KeysPath + "?" + url.Values{"added": {k.ID}}.Encode()
	}
	return writeJSON(w, http.StatusOK, map[string]string{"redirect": next})
}

// HandleRemovePage asks the person to confirm removing a key.
func (s *Server) HandleRemovePage(w http.ResponseWriter, r *http.Request) error {
	if err := s.available(); err != nil {
		return err
	}
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	k, err := s.ownKey(r, u.ID)
	if err != nil {
		return err
	}
	csrf, err := s.web.CSRFToken(w, r, r.URL.Path)
	if err != nil {
		return err
	}
	return web.Render(w, r, http.StatusOK, templates.SecurityKeyRemove(templates.SecurityKeyRemoveView{
		Page: templates.Page{Title: "Remove a security key", SignedInAs: web.DisplayName(u)}, ID: k.ID, Name: k.Name, CSRF: csrf}))
}

// errLastKey: policy requires a key, and this is the person's last.
var errLastKey = &web.UserError{Status: http.StatusConflict, Title: "Key not removed",
	Message: "Your organisation requires you to keep at least one security key or passkey, and this is your last.",
	Next:    "Add another key first, then remove this one."}

var errStepUpFirst = &web.UserError{Status: http.StatusForbidden, Title: "Use your security key first",
	Message: "To remove a key, first confirm it is you with one of your keys.",
	Next:    "Use your key, then remove this one."}

// HandleRemove removes a key; the last one stays when policy requires one.
func (s *Server) HandleRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.available(); err != nil {
		return err
	}
	sess, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	ctx := r.Context()
	k, err := s.ownKey(r, u.ID)
	if err != nil {
		return err
	}
	keys, err := s.store.SecurityKeys().ListForUser(ctx, u.ID)
	if err != nil {
		return err
	}
	if !mayChange(sess, keys) {
		return errStepUpFirst
	}
	required, err := s.web.SecurityKeyRequired(ctx, sess)
	if err != nil {
		return err
	}
	if err := s.store.SecurityKeys().Delete(ctx, u.ID, k.ID, required); errors.Is(err, store.ErrConflict) {
		s.web.Record(r, u.ID, "securitykey.refused", k.ID, map[string]any{"reason": "last_required_key"})
		return errLastKey
	} else if err != nil {
		return err
	}
	s.web.Record(r, u.ID, "securitykey.removed", k.ID, map[string]any{"by": "owner"})
	http.Redirect(w, r, KeysPath+"?"+url.Values{"removed": {k.ID}}.Encode(), http.StatusSeeOther)
	return nil
}

// ownKey is the key {id} of the path, if it is userID's.
func (s *Server) ownKey(r *http.Request, userID string) (store.SecurityKey, error) {
	keys, err := s.store.SecurityKeys().ListForUser(r.Context(), userID)
	if err != nil {
		return store.SecurityKey{}, err
	}
	i := slices.IndexFunc(keys, func(k store.SecurityKey) bool { return k.ID == r.PathValue("id") })
	if i < 0 {
		return store.SecurityKey{}, web.ErrNotFound
	}
	return keys[i], nil
}
