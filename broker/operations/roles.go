package operations

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/broker/registry"
	"github.com/gatehouse/gatehouse/broker/seal"
	"github.com/gatehouse/gatehouse/broker/store"
)

// ErrLastAdmin: the change would leave Gatehouse with no admin. It is an
// ErrConflict too.
var ErrLastAdmin = errors.New("operations: the last admin cannot be removed; grant the admin role to someone else first")

// ErrAdminExists: the bootstrap link is only for a Gatehouse without admins.
var ErrAdminExists = errors.New("operations: an admin exists already; an admin grants the role with " +
	"`gatehouse users grant-role USER admin` or in the console")

// ErrBootstrapToken: the bootstrap link is unknown, expired or already used.
var ErrBootstrapToken = errors.New("operations: this bootstrap link is unknown, expired or already used")

// BootstrapTTL is how long a bootstrap link is valid (issue 12).
const BootstrapTTL = 15 * time.Minute

// Roles returns the roles granted to userID (not those a provider's role rules
// give a session; web callers add those).
func (s *Service) Roles(ctx context.Context, userID string) ([]string, error) {
	gs, err := s.Store.Roles().ListForUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.Role)
	}
	return out, nil
}

// Admins lists the users granted the admin role who are not disabled. An admin
// only by a provider's role rules is one for that session alone and is not
// among them: they cannot keep Gatehouse administrable once signed out.
func (s *Service) Admins(ctx context.Context) ([]store.User, error) {
	return admins(ctx, s.Store)
}

func admins(ctx context.Context, st store.Store) ([]store.User, error) {
	gs, err := st.Roles().ListByRole(ctx, store.RoleAdmin)
	if err != nil {
		return nil, err
	}
	var out []store.User
	for _, g := range gs {
		u, err := st.Users().Get(ctx, g.UserID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !u.Disabled {
			out = append(out, u)
		}
	}
	return out, nil
}

// GrantRole grants role to the user userID. It records role.granted.
func (s *Service) GrantRole(ctx context.Context, a Actor, userID, role string) error {
	if !registry.ValidScopeToken(role) {
		return invalid([]string{fmt.Sprintf("role %q: a role is one word of printable characters", role)}, nil)
	}
	return s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.Roles().Grant(ctx, store.RoleGrant{UserID: userID, Role: role, GrantedBy: a.Name, GrantedAt: s.now().UTC()}); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return notFound(fmt.Sprintf("no user %q", userID), err)
			}
			if errors.Is(err, store.ErrConflict) {
				return &kindError{kind: ErrConflict, msg: fmt.Sprintf("user %q has the role %q already", userID, role), err: err}
			}
			return err
		}
		return s.record(ctx, tx, a, "role.granted", userID, map[string]any{"role": role})
	})
}

// RevokeRole removes a granted role. Removing the admin role from the last
// admin (Admins) is refused with ErrLastAdmin. It records role.revoked.
func (s *Service) RevokeRole(ctx context.Context, a Actor, userID, role string) error {
	return s.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.Roles().Revoke(ctx, userID, role); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return notFound(fmt.Sprintf("user %q has no granted role %q", userID, role), err)
			}
			return err
		}
		if role == store.RoleAdmin {
			// Counted after the delete, in the same transaction: the
			// revocation is undone if nobody is left.
			left, err := admins(ctx, tx)
			if err != nil {
				return err
			}
			if len(left) == 0 {
				return &kindError{kind: ErrConflict, msg: ErrLastAdmin.Error(), err: ErrLastAdmin}
			}
		}
		return s.record(ctx, tx, a, "role.revoked", userID, map[string]any{"role": role})
	})
}

// bootstrapAD binds a sealed bootstrap token to its purpose.
var bootstrapAD = []byte("gatehouse admin bootstrap")

// NewBootstrapToken makes the one-time token of an admin bootstrap link, valid
// for BootstrapTTL. Nothing is stored: the token is its expiry sealed with the
// master key, and spending it stores only its hash (Bootstrap). Refused with
// ErrAdminExists when there is an admin already.
func (s *Service) NewBootstrapToken(ctx context.Context) (string, time.Time, error) {
	if err := s.noAdmins(ctx, s.Store); err != nil {
		return "", time.Time{}, err
	}
	ring, err := s.ring()
	if err != nil {
		return "", time.Time{}, err
	}
	exp := s.now().Add(BootstrapTTL).UTC().Truncate(time.Second)
	sealed, err := ring.Seal(binary.BigEndian.AppendUint64(nil, uint64(exp.Unix())), bootstrapAD)
	if err != nil {
		return "", time.Time{}, err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), exp, nil
}

// CheckBootstrapToken reports whether tok is a bootstrap link's token that can
// still be spent: ErrBootstrapToken or ErrAdminExists otherwise.
func (s *Service) CheckBootstrapToken(ctx context.Context, tok string) error {
	key, _, err := s.openBootstrap(tok)
	if err != nil {
		return err
	}
	if used, err := s.Store.Replay().Used(ctx, key, s.now()); err != nil {
		return err
	} else if used {
		return ErrBootstrapToken
	}
	return s.noAdmins(ctx, s.Store)
}

// Bootstrap spends tok and grants the admin role to userID, in one
// transaction: of two uses of one link, one wins (store.Replay), and nothing is
// granted when the link is unknown, expired or spent (ErrBootstrapToken) or an
// admin exists (ErrAdminExists). It records admin.bootstrapped.
func (s *Service) Bootstrap(ctx context.Context, tok, userID string) error {
	key, exp, err := s.openBootstrap(tok)
	if err != nil {
		return err
	}
	return s.Store.InTx(ctx, func(tx store.Store) error {
		if err := s.noAdmins(ctx, tx); err != nil {
			return err
		}
		if err := tx.Replay().Remember(ctx, key, exp, s.now()); err != nil {
			if errors.Is(err, store.ErrAlreadyUsed) {
				return ErrBootstrapToken
			}
			return err
		}
		if err := tx.Roles().Grant(ctx, store.RoleGrant{UserID: userID, Role: store.RoleAdmin, GrantedBy: "bootstrap",
			GrantedAt: s.now().UTC()}); err != nil {
			return storeErr(err)
		}
		return s.record(ctx, tx, Actor{Name: userID, Via: "bootstrap"}, "admin.bootstrapped", userID, nil)
	})
}

func (s *Service) openBootstrap(tok string) (key string, exp time.Time, err error) {
	ring, err := s.ring()
	if err != nil {
		return "", time.Time{}, err
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(tok) > 512 {
		return "", time.Time{}, ErrBootstrapToken
	}
	pt, err := ring.Open(raw, bootstrapAD)
	if err != nil || len(pt) != 8 {
		return "", time.Time{}, ErrBootstrapToken
	}
	exp = time.Unix(int64(binary.BigEndian.Uint64(pt)), 0)
	if !s.now().Before(exp) {
		return "", time.Time{}, ErrBootstrapToken
	}
	sum := sha256.Sum256([]byte(tok))
	return "admin-bootstrap:" + hex.EncodeToString(sum[:]), exp, nil
}

func (s *Service) noAdmins(ctx context.Context, st store.Store) error {
	gs, err := st.Roles().ListByRole(ctx, store.RoleAdmin)
	if err != nil {
		return err
	}
	if len(gs) > 0 {
		return ErrAdminExists
	}
	return nil
}

func (s *Service) ring() (*seal.Keyring, error) {
	if s.Upstream.Keyring == nil {
		return nil, errors.New("operations: no master key for bootstrap links")
	}
	return s.Upstream.Keyring, nil
}
