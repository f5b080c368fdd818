package passkeys

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

const stepUpOptionsPath = web.StepUpPath + "/options"

// HandleStepUpPage is "Use your security key": where the OAuth server and the
// console send a session that has not used one (web.StepUpURL).
func (s *Server) HandleStepUpPage(w http.ResponseWriter, r *http.Request) error {
	if err := s.available(); err != nil {
		return err
	}
	_, u, ok := s.web.RequireSession(w, r)
	if !ok {
		return nil
	}
	keys, err := s.store.SecurityKeys().ListForUser(r.Context(), u.ID)
	if err != nil {
		return err
	}
	returnTo := web.LocalReturnTo(r.URL.Query().Get("return_to"), "/account")
	v := templates.StepUpView{Page: templates.Page{Title: "Use your security key", SignedInAs: web.DisplayName(u)},
		ReturnTo: returnTo, HasKeys: len(usable(keys)) > 0,
		AddURL: KeysPath + "?" + url.Values{"return_to": {web.StepUpURL(returnTo)}}.Encode()}
	if v.CSRFOptions, err = s.web.CSRFToken(w, r, stepUpOptionsPath); err != nil {
		return err
	}
	if v.CSRFStepUp, err = s.web.CSRFToken(w, r, web.StepUpPath); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return web.Render(w, r, http.StatusOK, templates.StepUp(v))
}

// HandleStepUpOptions starts an authentication ceremony (WebAuthn L2 §7.2)
// for the signed-in person's usable keys (allowCredentials, §5.5).
func (s *Server) HandleStepUpOptions(w http.ResponseWriter, r *http.Request) error {
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
	keys = usable(keys)
	if len(keys) == 0 {
		return s.refuse(w, r, u.ID, sess.ID, "no_usable_key", "You have no security key to use. Add one on your account page.")
	}
	assertion, data, err := s.rp.BeginLogin(person{u: u, keys: keys})
	if err != nil {
		return err
	}
	if err := s.saveCeremony(w, r, ceremony{Kind: "authenticate", Session: sess.ID, Data: *data}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, assertion)
}

// msgCloned is what a person is told when their key's signature counter went
// backwards.
const msgCloned = "This key may have been copied, so it was refused. Use another key, and tell your administrator."

// HandleStepUp verifies an assertion (WebAuthn L2 §7.2) and steps the session
// up: its acr becomes web.ACRSecurityKey and its amr gains hwk or swk and mfa
// (RFC 8176 §2); its token is replaced (WEB-06). The person then returns to
// where they were going, which checks the session again.
func (s *Server) HandleStepUp(w http.ResponseWriter, r *http.Request) error {
	if err := s.available(); err != nil {
		return err
	}
	sess, u, ok := s.web.CurrentSession(r)
	if !ok {
		return errSignedOut
	}
	ctx := r.Context()
	data, err := s.takeCeremony(w, r, "authenticate", sess)
	if errors.Is(err, errNoCeremony) {
		return s.refuse(w, r, u.ID, sess.ID, "no_ceremony", "This took too long or was already used. Try again.")
	} else if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(r.PostFormValue("credential")))
	if err != nil {
		return s.refuse(w, r, u.ID, sess.ID, "malformed_credential", "")
	}
	keys, err := s.store.SecurityKeys().ListForUser(ctx, u.ID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(keys, func(k store.SecurityKey) bool { return bytes.Equal(k.CredentialID, parsed.RawID) })
	if i < 0 {
		return s.refuse(w, r, u.ID, sess.ID, "unknown_credential", "This is not one of your keys.")
	}
	k := keys[i]
	if k.CloneWarning {
		return s.refuse(w, r, u.ID, k.ID, "clone_warning", msgCloned)
	}
	cred, err := s.rp.ValidateLogin(person{u: u, keys: usable(keys)}, data, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "security key assertion not verified", "request_id", web.RequestID(ctx), "error", err.Error())
		return s.refuse(w, r, u.ID, k.ID, "assertion_not_verified", "")
	}
	if cred.Authenticator.CloneWarning {
		// WebAuthn L2 §7.2 step 21: a signature counter that did not
		// increase signals a possibly cloned authenticator. Gatehouse flags
		// the key, which then stays refused, tells the person, and the
		// admins see it on the person's page and in the audit log.
		if err := s.store.SecurityKeys().FlagClone(ctx, k.ID); err != nil {
			return err
		}
		s.web.Record(r, u.ID, "securitykey.clone_warning", k.ID, map[string]any{"stored_count": k.SignCount,
			"presented_count": parsed.Response.AuthenticatorData.Counter})
		return s.refuse(w, r, u.ID, k.ID, "clone_warning", msgCloned)
	}
	if err := s.store.SecurityKeys().RecordUse(ctx, k.ID, k.SignCount, cred.Authenticator.SignCount, cred.Flags.BackupState, s.Now()); errors.Is(err, store.ErrConflict) {
		// Another assertion with this counter was accepted meanwhile.
		return s.refuse(w, r, u.ID, k.ID, "counter_raced", "")
	} else if err != nil {
		return err
	}
	amr := slices.Clone(sess.AMR)
	factor := web.AMRHardwareKey
	if isPasskey(k) {
		factor = web.AMRSoftwareKey
	}
	for _, m := range []string{factor, web.AMRMultiFactor} {
		if !slices.Contains(amr, m) {
			amr = append(amr, m)
		}
	}
	secret := token.Random(32)
	if err := s.store.Sessions().StepUp(ctx, sess.ID, token.Hash(secret), web.ACRSecurityKey, amr); err != nil {
		return err
	}
	if err := s.web.SetSessionToken(w, r, secret); err != nil {
		return err
	}
	s.web.Record(r, u.ID, "session.stepped_up", sess.ID, map[string]any{"key": k.ID, "amr": factor})
	return writeJSON(w, http.StatusOK, map[string]string{"redirect": web.LocalReturnTo(r.PostFormValue("return_to"), "/account")})
}
