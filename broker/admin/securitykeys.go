package admin

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/templates"
)

// A person's security keys and passkeys (issue 15): admins see them, a clone
// warning included, and remove them (a lost key, a possibly cloned one), in
// the console and the admin API, through operations.

// SecurityKeyJSON is a security key or passkey as the admin API shows it
// (never its public key or credential ID).
type SecurityKeyJSON struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Kind         string    `json:"kind"` // "security-key" or "passkey"
	Attachment   string    `json:"attachment,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	LastUsedAt   time.Time `json:"last_used_at,omitzero"`
	CloneWarning bool      `json:"clone_warning"`
}

// keyIsPasskey: a platform or syncable credential (package passkeys, amr swk).
func keyIsPasskey(k store.SecurityKey) bool { return k.Attachment == "platform" || k.BackupEligible }

func toSecurityKeyJSON(k store.SecurityKey) SecurityKeyJSON {
	kind := "security-key"
	if keyIsPasskey(k) {
		kind = "passkey"
	}
	return SecurityKeyJSON{ID: k.ID, Name: k.Name, Kind: kind, Attachment: k.Attachment, CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, CloneWarning: k.CloneWarning}
}

// UserSecurityKeysAPI is GET /api/admin/v1/users/{id}/security-keys.
func (a *Server) UserSecurityKeysAPI(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		keys, err := a.ops.SecurityKeys(r.Context(), r.PathValue("id"))
		if err != nil {
			return peopleProblem(err)
		}
		out := []SecurityKeyJSON{}
		for _, k := range keys {
			out = append(out, toSecurityKeyJSON(k))
		}
		return writeJSON(w, http.StatusOK, out)
	})
}

// UserSecurityKeyDeleteAPI is DELETE /api/admin/v1/users/{id}/security-keys/{key}.
func (a *Server) UserSecurityKeyDeleteAPI(w http.ResponseWriter, r *http.Request) {
	a.api(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		if err := a.ops.RemoveSecurityKey(r.Context(), p.Actor, r.PathValue("id"), r.PathValue("key")); err != nil {
			return peopleProblem(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// HandlePersonKeys is a person's security keys in the console.
func (a *Server) HandlePersonKeys(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		u, keys, err := a.personKeys(r)
		if err != nil {
			return err
		}
		base := "/admin/people/" + url.PathEscape(u.ID)
		v := templates.AdminSecurityKeysView{Page: a.page("Security keys", p), Heading: templates.M("Security keys of %s", web.DisplayName(u)),
			Person: base}
		if r.URL.Query().Get("done") == "removed" {
			v.Notice = templates.M("The key was removed.")
		}
		for _, k := range keys {
			v.Keys = append(v.Keys, templates.AdminSecurityKeyRow{ID: k.ID, Name: k.Name, Passkey: keyIsPasskey(k), Added: k.CreatedAt,
				LastUsed: k.LastUsedAt, CloneWarning: k.CloneWarning, Remove: base + "/security-keys/" + url.PathEscape(k.ID) + "/remove"})
		}
		return web.Render(w, r, http.StatusOK, templates.AdminSecurityKeys(v))
	})
}

// HandlePersonKeyRemoveConfirm asks before removing a person's key.
func (a *Server) HandlePersonKeyRemoveConfirm(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		u, keys, err := a.personKeys(r)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(keys, func(k store.SecurityKey) bool { return k.ID == r.PathValue("key") })
		if i < 0 {
			return web.ErrNotFound
		}
		back := "/admin/people/" + url.PathEscape(u.ID) + "/security-keys"
		return a.renderConfirm(w, r, p, back+"/"+url.PathEscape(keys[i].ID)+"/remove", back, "Remove this key?",
			templates.M("Remove the key %s of %s?", keys[i].Name, web.DisplayName(u)),
			templates.M("They can no longer use it. Where a security key is required, they add a new one when next asked for it."), templates.M("Remove"))
	})
}

// HandlePersonKeyRemove removes a person's key.
func (a *Server) HandlePersonKeyRemove(w http.ResponseWriter, r *http.Request) error {
	return a.console(w, r, func(w http.ResponseWriter, r *http.Request, p person) error {
		id := r.PathValue("id")
		if err := a.ops.RemoveSecurityKey(r.Context(), p.Actor, id, r.PathValue("key")); err != nil {
			return personErr(err)
		}
		http.Redirect(w, r, "/admin/people/"+url.PathEscape(id)+"/security-keys?done=removed", http.StatusSeeOther)
		return nil
	})
}

// personKeys reads the person {id} and their keys.
func (a *Server) personKeys(r *http.Request) (store.User, []store.SecurityKey, error) {
	keys, err := a.ops.SecurityKeys(r.Context(), r.PathValue("id"))
	if err != nil {
		return store.User{}, nil, personErr(err)
	}
	u, err := a.ops.Store.Users().Get(r.Context(), r.PathValue("id"))
	return u, keys, err
}
