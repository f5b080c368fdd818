package store

import (
	"context"
	"time"
)

// SecurityKey is a WebAuthn credential a person registered: a roaming security
// key or a platform passkey (issue 15). The credential record of WebAuthn L2
// §4 ("credential record"): its ID, public key and signature counter, plus what
// the account page shows.
type SecurityKey struct {
	// ID is Gatehouse's public handle (URLs, the audit log), not the
	// credential ID, which the authenticator chose.
	ID           string
	UserID       string
	CredentialID []byte // unique over every user
	PublicKey    []byte // COSE_Key (WebAuthn L2 §6.5.1.1)
	// AttestationFormat is the attestation statement format at registration
	// ("none", "packed", "fido-u2f"…); fido-u2f keys need the AppID extension.
	AttestationFormat string
	AAGUID            []byte
	SignCount         uint32
	Transports        []string
	// Attachment is "platform" (a passkey of the device or its account) or
	// "cross-platform" (a roaming key); "" when the browser did not say.
	Attachment     string
	BackupEligible bool
	BackupState    bool
	UserVerified   bool
	Name           string
	CreatedAt      time.Time
	LastUsedAt     time.Time // zero until first used
	// CloneWarning is set when an assertion's signature counter did not
	// increase (WebAuthn L2 §7.2 step 21): the key may have been cloned, and it
	// is refused until an admin or its owner removes it.
	CloneWarning bool
}

// SecurityKeys stores people's WebAuthn credentials.
type SecurityKeys interface {
	// Create stores k; ErrConflict if its credential ID is registered
	// already, ErrNotFound if the user does not exist.
	Create(ctx context.Context, k SecurityKey) error
	// ListForUser lists the user's keys, oldest first.
	ListForUser(ctx context.Context, userID string) ([]SecurityKey, error)
	// GetByCredentialID finds a key by its WebAuthn credential ID.
	GetByCredentialID(ctx context.Context, credentialID []byte) (SecurityKey, error)
	// RecordUse stores a verified assertion's counter, backup state and time,
	// only if the stored counter is still prevCount and the key is not flagged:
	// of two replicas verifying assertions with the same counter, one wins and
	// the other gets ErrConflict.
	RecordUse(ctx context.Context, id string, prevCount, count uint32, backupState bool, at time.Time) error
	// FlagClone sets CloneWarning on the key.
	FlagClone(ctx context.Context, id string) error
	// Rename renames userID's key id; ErrNotFound if there is none.
	Rename(ctx context.Context, userID, id, name string) error
	// Delete removes userID's key id; ErrNotFound if there is none. With
	// keepOne, removing the user's last key is refused with ErrConflict (a
	// policy requires one); the user's keys are locked first, so two removals
	// racing cannot both pass.
	Delete(ctx context.Context, userID, id string, keepOne bool) error
}
