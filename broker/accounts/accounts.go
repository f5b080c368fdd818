// Package accounts says who a verified upstream identity is locally: the user it
// is linked to, or a link or a new user under the email-linking rules. A browser
// sign-in and a token exchange (RFC 8693) apply the same rules through it.
package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/broker/audit"
	"github.com/gatehouse/gatehouse/broker/emailaddr"
	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/broker/token"
	"github.com/gatehouse/gatehouse/broker/web"
	"github.com/gatehouse/gatehouse/providers"
)

// ErrEmailTaken: the identity is new and its verified email is an existing
// account's that the provider cannot vouch for, so no automatic link is
// allowed: the person must choose (a browser sign-in offers the link-choice
// page; an exchange refuses).
var ErrEmailTaken = errors.New("an account with this email exists")

// Resolver maps verified upstream identities to local users. The audit events
// it records take the request's IP address and ID from the context
// (web.InfoFrom).
type Resolver struct {
	Store store.Store
	Audit *audit.Writer
	// Log receives a failure to record an audit event, which does not undo the
	// link it records.
	Log *slog.Logger
	// Now is the clock.
	Now func() time.Time
}

// Linked returns the user the identity (providerID, subject) is linked to, or
// store.ErrNotFound, in one read.
func (r *Resolver) Linked(ctx context.Context, providerID, subject string) (store.User, error) {
	return r.Store.Identities().UserOf(ctx, providerID, subject)
}

// Owner is Linked narrowed to the user's ID and whether the account is
// disabled: the hot path of a token exchange, which needs nothing else.
func (r *Resolver) Owner(ctx context.Context, providerID, subject string) (userID string, disabled bool, err error) {
	return r.Store.Identities().OwnerOf(ctx, providerID, subject)
}

// Resolve finds or creates the local user of an identity that provider p
// verified; (provider, subject) is the key, never the email or the subject
// alone (OIDC-24). login is the login record still to write (with the session,
// in one transaction); zero when linking wrote it. ErrEmailTaken: the identity
// is new and its verified email is an existing account's that p cannot vouch
// for (linkNew).
func (r *Resolver) Resolve(ctx context.Context, p store.ProviderConfig, ident providers.Identity) (u store.User, login store.Identity, err error) {
	rec := IdentityRecord(ident, "", r.Now())
	for range 2 {
		u, err := r.Linked(ctx, ident.ProviderID, ident.Subject)
		switch {
		case err == nil:
			rec.UserID = u.ID
			return u, rec, nil
		case !errors.Is(err, store.ErrNotFound):
			return store.User{}, store.Identity{}, err
		}
		u, err = r.linkNew(ctx, p, ident, rec)
		if !errors.Is(err, store.ErrConflict) {
			return u, store.Identity{}, err
		}
		// A concurrent first sign-in of the same identity linked it first:
		// this one is a sign-in of the user it created.
	}
	return store.User{}, store.Identity{}, fmt.Errorf("resolve user: identity %s keeps conflicting", ident.ProviderID)
}

// linkNew links an identity seen for the first time. It joins the existing
// account with the same email (in canonical form) only when this provider
// vouches for the email (Vouches) and exactly one account's email is vouched
// for by a provider of its own: a trusted provider speaks for its own domains
// only, so it cannot claim another provider's people (OIDC-23, WEB-25), and an
// account opened with an email nobody vouched for is no link target (account
// pre-hijacking). Otherwise a verified email that an account already has is
// ErrEmailTaken, and anything else gets a new user. ErrConflict means another
// request linked the identity meanwhile, and nothing was stored.
func (r *Resolver) linkNew(ctx context.Context, p store.ProviderConfig, ident providers.Identity, rec store.Identity) (store.User, error) {
	if ident.Email != "" {
		us, err := r.Store.Users().FindByEmail(ctx, ident.Email)
		if err != nil {
			return store.User{}, err
		}
		if len(us) > 0 && Vouches(p, ident.Email, ident.EmailVerified) {
			owner, err := r.emailOwner(ctx, us, ident.Email)
			if err != nil {
				return store.User{}, err
			}
			if owner.ID != "" {
				rec.UserID, rec.LinkedAt = owner.ID, rec.LastLoginAt
				if err := r.Store.Identities().Link(ctx, rec); err != nil {
					return store.User{}, err
				}
				r.record(ctx, event(ctx, owner.ID, "identity.linked", ident.ProviderID, map[string]any{"by": "verified_email", "subject": ident.Subject}))
				return owner, nil
			}
		}
		if len(us) > 0 && ident.EmailVerified {
			return store.User{}, ErrEmailTaken
		}
	}
	return r.createUser(ctx, ident, rec)
}

// NewUser creates a user for a verified identity and links it, in one
// transaction, whatever accounts share its email: the person chose a separate
// account. ErrConflict if the identity was linked meanwhile.
func (r *Resolver) NewUser(ctx context.Context, ident providers.Identity) (store.User, error) {
	return r.createUser(ctx, ident, IdentityRecord(ident, "", r.Now()))
}

// createUser creates a user for a verified identity and links it, in one
// transaction; ErrConflict if the identity was linked meanwhile. The profile
// is what the provider said, verified flag included (OIDC Core §5.1:
// email_verified tells apps the truth), whatever its trust for linking.
func (r *Resolver) createUser(ctx context.Context, ident providers.Identity, rec store.Identity) (store.User, error) {
	now := rec.LastLoginAt
	u := store.User{ID: token.Random(16), Email: ident.Email, EmailVerified: ident.EmailVerified && ident.Email != "",
		Name: web.Truncate(ident.Name, 256), CreatedAt: now, UpdatedAt: now}
	rec.LinkedAt = now
	if err := r.Store.Identities().LinkNewUser(ctx, u, rec); err != nil {
		return store.User{}, err
	}
	r.Audit.Enqueue(event(ctx, u.ID, "user.created", ident.ProviderID, map[string]any{"subject": ident.Subject}))
	return u, nil
}

// Vouches reports whether a provider's word settles who owns an email: the
// admin trusts it for linking, it asserted the email verified, and the email's
// domain is one of the provider's own configured domains.
func Vouches(p store.ProviderConfig, email string, verified bool) bool {
	d := emailaddr.Domain(email)
	return p.TrustEmailLinking && verified && d != "" && slices.Contains(p.Domains, d)
}

// emailOwner returns the one user among us whose email one of their own
// identities vouches for (the identity's provider vouches for that email as it
// asserted it), or a zero User when none or several do.
func (r *Resolver) emailOwner(ctx context.Context, us []store.User, email string) (store.User, error) {
	email = emailaddr.Canonical(email)
	var owner store.User
	for _, u := range us {
		ids, err := r.Store.Identities().ListForUser(ctx, u.ID)
		if err != nil {
			return store.User{}, err
		}
		for _, id := range ids {
			if emailaddr.Canonical(id.Email) != email {
				continue
			}
			p, err := r.Store.Providers().Get(ctx, id.ProviderID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return store.User{}, err
			}
			if Vouches(p, id.Email, id.EmailVerified) {
				if owner.ID != "" && owner.ID != u.ID {
					return store.User{}, nil
				}
				owner = u
				break
			}
		}
	}
	return owner, nil
}

// IdentityRecord is the stored form of a verified identity, linked to userID
// ("" when not yet known), signed in at now.
func IdentityRecord(ident providers.Identity, userID string, now time.Time) store.Identity {
	claims, _ := json.Marshal(ident.Claims)
	return store.Identity{ProviderID: ident.ProviderID, Subject: ident.Subject, UserID: userID, Email: ident.Email,
		EmailVerified: ident.EmailVerified, Claims: claims, LastLoginAt: now}
}

// record writes ev synchronously; a failure to write is logged, not returned:
// the link it records stands.
func (r *Resolver) record(ctx context.Context, ev audit.Event) {
	if err := r.Audit.Record(ctx, ev); err != nil {
		r.Log.ErrorContext(ctx, "audit record failed", "request_id", ev.RequestID, "action", ev.Action,
			"error", strings.TrimSpace(err.Error()))
	}
}

// event is an audit event of the request ctx belongs to, acted by userID.
func event(ctx context.Context, userID, action, target string, details map[string]any) audit.Event {
	ri := web.InfoFrom(ctx)
	return audit.Event{Actor: userID, Action: action, Target: target, IP: ri.IP, RequestID: ri.ID, Details: details}
}
