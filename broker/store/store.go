// Package store defines Gatehouse's persistence: one small interface per aggregate,
// the records they hold, and the sentinel errors every backend returns. The SQL
// implementation lives in store/sqlstore; store/storetest is the contract suite that
// every backend passes.
//
// Times round-trip with microsecond precision and read back in UTC; the zero time
// means unset. Empty lists and byte slices read back as nil. A record is valid
// while now is before its ExpiresAt.
package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Backends wrap them with the operation's name; callers test with errors.Is.
var (
	// ErrNotFound: no record matches.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique key is taken, or an optimistic-lock version did not match.
	ErrConflict = errors.New("store: conflict")
	// ErrAlreadyUsed: an insert-once or use-once record was already consumed
	// (code redeemed, refresh token rotated, replay-cache key seen).
	ErrAlreadyUsed = errors.New("store: already used")
	// ErrLastIdentity: unlinking would leave a user with no way to sign in.
	ErrLastIdentity = errors.New("store: last linked identity")
	// ErrDisabled: a record a write depends on is switched off or gone (a
	// sign-in at a provider disabled or removed meanwhile).
	ErrDisabled = errors.New("store: disabled")
	// ErrUnavailable: the connection to the database failed under the statement
	// (closed by a restarted server, reset, refused): whether it ran is unknown,
	// and the request may be retried (issue 14).
	ErrUnavailable = errors.New("store: database unavailable")
)

// Store gives access to every aggregate of one backend.
type Store interface {
	Users() Users
	Identities() Identities
	Providers() Providers
	Clients() Clients
	APIs() APIs
	Sessions() Sessions
	Codes() Codes
	DeviceAuthorizations() DeviceAuthorizations
	RefreshTokens() RefreshTokens
	Consents() Consents
	Delegations() Delegations
	SigningKeys() SigningKeys
	Audit() Audit
	Replay() Replay
	Revocations() Revocations
	SignIns() SignIns
	Roles() Roles
	SecurityKeys() SecurityKeys
	// InTx runs fn with a Store whose every aggregate runs on one database
	// transaction: committed when fn returns nil, rolled back (fn's error
	// returned) otherwise. Everything fn writes must go through tx. InTx on tx
	// nests: a failing inner fn undoes only its own writes.
	InTx(ctx context.Context, fn func(tx Store) error) error
	// InBatches runs fn over the items [0, n) in consecutive ranges [from, to)
	// of at most most items, each range in a transaction of its own as InTx runs
	// one: background work (a sweep) that must not hold up requests. On a
	// database with one writer (SQLite) each range is sized to hold the writer
	// for a few milliseconds and, while requests write too, a pause follows it.
	// It stops at the first error, the ranges before it committed. Called on a
	// transaction's Store, it runs fn once over [0, n) in that transaction.
	InBatches(ctx context.Context, n, most int, fn func(tx Store, from, to int) error) error
	// Ping reports whether the database answers (used by /readyz).
	Ping(ctx context.Context) error
	Close() error
}

// User is a local Gatehouse account; upstream identities link to it.
type User struct {
	ID            string
	Email         string
	EmailVerified bool
	Name          string
	Disabled      bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Users stores local accounts.
type Users interface {
	Create(ctx context.Context, u User) error
	Get(ctx context.Context, id string) (User, error)
	Update(ctx context.Context, u User) error
	// FindByEmail returns the users whose email equals email in canonical form
	// (emailaddr.Canonical), verified or not, oldest first: for linking decisions
	// and for admins looking a person up.
	FindByEmail(ctx context.Context, email string) ([]User, error)
	// List returns every user, oldest first (gatehouse users list).
	List(ctx context.Context) ([]User, error)
	// Search returns at most s.Limit users whose canonical email starts with
	// s.Query or whose name contains it (case-insensitively; on SQLite only
	// ASCII letters fold), ordered by canonical email then ID, after s.After.
	Search(ctx context.Context, s UserSearch) ([]User, error)
}

// UserSearch is one page of an admin's search for people (Users.Search).
type UserSearch struct {
	Query string
	// After continues after the last user of the previous page (its Email and
	// ID); the zero value starts at the beginning.
	After UserCursor
	Limit int // at most MaxUserSearch; 0 means MaxUserSearch
}

// UserCursor is a user's place in the order of Users.Search.
type UserCursor struct{ Email, ID string }

// Cursor is u's place in the order of Users.Search.
func (u User) Cursor() UserCursor { return UserCursor{Email: u.Email, ID: u.ID} }

// MaxUserSearch bounds one page of Users.Search.
const MaxUserSearch = 100

// MaxListed bounds the IDs or keys one statement takes as a list
// (RefreshFilter.SessionIDs, Sessions.Delete, Revocations.Revoke): SQLite binds
// at most 32,766 values to a statement and PostgreSQL 65,535, and a short list
// keeps a transaction on SQLite's one writer short.
const MaxListed = 500

// Identity is an upstream identity (provider, subject) linked to one local user.
type Identity struct {
	ProviderID    string
	Subject       string
	UserID        string
	Email         string
	EmailVerified bool
	// Claims holds the raw claims/attributes (JSON) of the last login, for admins
	// writing role rules.
	Claims      []byte
	LinkedAt    time.Time
	LastLoginAt time.Time
}

// Identities stores links between upstream identities and local users.
type Identities interface {
	// Link returns ErrConflict when (provider, subject) is already linked, and
	// ErrNotFound when the user does not exist.
	Link(ctx context.Context, id Identity) error
	Get(ctx context.Context, providerID, subject string) (Identity, error)
	// UserOf returns the user (provider, subject) is linked to, in one read;
	// ErrNotFound if it is not linked.
	UserOf(ctx context.Context, providerID, subject string) (User, error)
	// OwnerOf is UserOf narrowed to what a token request needs, the user's ID and
	// whether the account is disabled: token exchange reads it on every request,
	// and scanning the whole row (two timestamps) was a tenth of its CPU.
	OwnerOf(ctx context.Context, providerID, subject string) (userID string, disabled bool, err error)
	ListForUser(ctx context.Context, userID string) ([]Identity, error)
	// RecordLogin updates email, verified flag, claims and last-login time.
	RecordLogin(ctx context.Context, id Identity) error
	// Unlink returns ErrLastIdentity rather than remove a user's last identity.
	Unlink(ctx context.Context, userID, providerID, subject string) error
	// CountForProvider counts the identities linked at a provider: its issuer
	// may not change while any exist.
	CountForProvider(ctx context.Context, providerID string) (int, error)
	// LinkNewUser creates u and links id to it in one transaction. When
	// (provider, subject) is already linked (a concurrent first sign-in won) it
	// returns ErrConflict and stores nothing, so no user is left without an
	// identity.
	LinkNewUser(ctx context.Context, u User, id Identity) error
}

// ProviderConfig is an upstream identity provider as an admin configured it.
type ProviderConfig struct {
	ID      string
	Kind    string // "oidc" or "saml"
	Name    string
	Domains []string // email domains for home-realm discovery
	Enabled bool
	// TrustEmailLinking: a verified email from this provider may link to an existing user.
	TrustEmailLinking bool
	// Settings is the kind-specific configuration (JSON); SecretsEnc holds its secrets,
	// sealed with the master key.
	Settings   []byte
	SecretsEnc []byte
	// Version increases on every update; Update compares it (optimistic locking).
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Providers stores upstream identity provider configurations.
type Providers interface {
	// Create stores p with Version 1; ErrConflict if the ID is taken.
	Create(ctx context.Context, p ProviderConfig) error
	Get(ctx context.Context, id string) (ProviderConfig, error)
	List(ctx context.Context) ([]ProviderConfig, error)
	// Update succeeds only if the stored version equals p.Version, and stores
	// p.Version+1; otherwise ErrConflict (a concurrent edit won).
	Update(ctx context.Context, p ProviderConfig) error
	// Delete removes the provider and, in the same transaction, every identity
	// linked at it: a provider added later under the same ID must not inherit
	// them (its issuer may be another).
	Delete(ctx context.Context, id string) error
}

// Client is an OAuth 2.0 client application.
type Client struct {
	ID      string
	Name    string
	LogoURI string
	// ClientURI is the app's home page (RFC 7591 §2 client_uri), shown on the
	// consent page; https only, like LogoURI (SECURITY.md WEB-17).
	ClientURI              string
	SecretHash             []byte // SHA-256 of a generated 256-bit secret; empty for public clients
	Public                 bool
	FirstParty             bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	Scopes                 []string
	DefaultAudience        string
	// Audiences are the other APIs (by audience URI) the client may ask tokens for
	// with an RFC 8707 resource parameter.
	Audiences               []string
	TokenEndpointAuthMethod string
	JWKS                    []byte
	JWKSURI                 string
	AccessTokenTTL          time.Duration // zero: server default
	RefreshTokenTTL         time.Duration // zero: server default
	// IDTokenSignedResponseAlg is the JWS alg of the client's ID tokens (OIDC Dynamic
	// Client Registration §2): RS256, ES256 or EdDSA; empty means RS256.
	IDTokenSignedResponseAlg string
	ResourceServerFor        []string // APIs (by audience URI) whose tokens it may introspect (RFC 7662 §2.1)
	// ExchangeTokenTypes are the subject token types (RFC 8693 §3 URIs) the client may
	// present with the token-exchange grant; ExchangeProviders the upstream providers
	// (by ID) whose ID tokens or assertions it may exchange.
	ExchangeTokenTypes []string
	ExchangeProviders  []string
	// DPoPBoundAccessTokens requires DPoP on every token request (RFC 9449 §5.2
	// dpop_bound_access_tokens): a request without a proof is refused.
	DPoPBoundAccessTokens bool
	// The one certificate subject value a tls_client_auth client registered (RFC
	// 8705 §2.1.2): its subject DN (RFC 4514 string), or a dNSName, URI, IP address
	// or rfc822Name SAN of its certificate. Empty for other methods.
	TLSClientAuthSubjectDN string
	TLSClientAuthSANDNS    string
	TLSClientAuthSANURI    string
	TLSClientAuthSANIP     string
	TLSClientAuthSANEmail  string
	// Version is 1 when created and increases on every update. Update compares
	// it when it is set (optimistic locking, SECURITY.md DATA-11); 0 writes
	// whatever is stored.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// IDTokenAlg is the algorithm the client's ID tokens are signed with: RS256 unless
// it registered another (OIDC Dynamic Client Registration §2 default).
func (c *Client) IDTokenAlg() string {
	if c.IDTokenSignedResponseAlg == "" {
		return "RS256"
	}
	return c.IDTokenSignedResponseAlg
}

// Clients stores OAuth 2.0 clients.
type Clients interface {
	Create(ctx context.Context, c Client) error
	Get(ctx context.Context, id string) (Client, error)
	List(ctx context.Context) ([]Client, error)
	Update(ctx context.Context, c Client) error
	Delete(ctx context.Context, id string) error
}

// Scope is one permission of an API, with the text shown on consent pages.
type Scope struct {
	Name        string
	Description string
	// Roles are the local roles that entitle a user to this scope; empty means any
	// signed-in user is entitled.
	Roles []string `json:",omitempty"`
}

// API is a resource server tokens can be issued for.
type API struct {
	ID         string
	Audience   string // absolute URI, unique
	Name       string
	Scopes     []Scope
	Delegation DelegationPolicy
	// Version increases on every update. Update compares it when it is set
	// (optimistic locking, SECURITY.md DATA-11); 0 writes whatever is stored.
	Version   int64
	CreatedAt time.Time
}

// DelegationPolicy says whether and how people may delegate their access to an
// API. The zero value allows no delegation.
type DelegationPolicy struct {
	Allowed     bool
	MaxDuration time.Duration // the longest a delegation may run
	// Scopes are the API's scopes that may be delegated.
	Scopes []string `json:",omitempty"`
	// Redelegation lets a grant be given with permission to pass it on.
	Redelegation bool `json:",omitempty"`
}

// APIs stores resource servers.
type APIs interface {
	Create(ctx context.Context, a API) error
	Get(ctx context.Context, id string) (API, error)
	GetByAudience(ctx context.Context, audience string) (API, error)
	List(ctx context.Context) ([]API, error)
	// Update stores every field but ID and CreatedAt, and Version+1. With a
	// non-zero a.Version it succeeds only if that is the stored version,
	// otherwise ErrConflict (a concurrent edit won).
	Update(ctx context.Context, a API) error
	Delete(ctx context.Context, id string) error
}

// RoleAdmin is the role of Gatehouse's administrators.
const RoleAdmin = "admin"

// RoleGrant is a role granted to a user by an admin (or the bootstrap link),
// apart from the roles a provider's role rules give a session at sign-in.
type RoleGrant struct {
	UserID    string
	Role      string
	GrantedBy string // the granting admin's user ID, or what the CLI records
	GrantedAt time.Time
}

// Roles stores granted roles.
type Roles interface {
	// Grant stores g; ErrConflict if the user has the role already, ErrNotFound
	// if the user does not exist.
	Grant(ctx context.Context, g RoleGrant) error
	// Revoke removes the grant; ErrNotFound if there is none. In a
	// transaction it first locks every grant of the role until the transaction
	// ends, so concurrent revocations of one role run one after the other.
	Revoke(ctx context.Context, userID, role string) error
	// ListForUser lists the user's grants, by role.
	ListForUser(ctx context.Context, userID string) ([]RoleGrant, error)
	// ListByRole lists the grants of role, oldest first.
	ListByRole(ctx context.Context, role string) ([]RoleGrant, error)
}

// Session is a signed-in browser. The cookie carries a secret token; the database
// keeps only its hash. ID is a public handle used to list and end sessions.
type Session struct {
	ID         string
	TokenHash  []byte
	UserID     string
	ProviderID string
	// Subject is the upstream identity's subject at ProviderID, so an
	// IdP-initiated logout can find the sessions it names.
	Subject    string
	AuthTime   time.Time
	AMR        []string
	ACR        string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute lifetime
	// Roles are the local roles the provider's role rules gave at sign-in.
	Roles []string
	// LogoutStateEnc is the provider's logout state (an OIDC ID token for
	// id_token_hint, a SAML NameID and SessionIndex), sealed by the broker.
	LogoutStateEnc []byte
	// LogoutKey is the provider's non-secret key for the upstream principal
	// (e.g. a hash of a SAML NameID), so an IdP-initiated logout finds the
	// session when the subject is another attribute; empty if none.
	LogoutKey string
}

// Sessions stores browser sessions.
type Sessions interface {
	Create(ctx context.Context, s Session) error
	GetByTokenHash(ctx context.Context, tokenHash []byte) (Session, error)
	// Get returns the session by its public ID, whether or not it has expired.
	Get(ctx context.Context, id string) (Session, error)
	Touch(ctx context.Context, id string, lastSeen time.Time) error
	ListForUser(ctx context.Context, userID string) ([]Session, error)
	// ListForIdentity lists the sessions signed in with (providerID, subject),
	// oldest first (IdP-initiated logout).
	ListForIdentity(ctx context.Context, providerID, subject string) ([]Session, error)
	// ListForLogoutKey lists the sessions at providerID with that non-empty
	// LogoutKey, oldest first (IdP-initiated logout).
	ListForLogoutKey(ctx context.Context, providerID, logoutKey string) ([]Session, error)
	// ListForProvider lists every session signed in at providerID, oldest
	// first (a provider disabled or removed ends them).
	ListForProvider(ctx context.Context, providerID string) ([]Session, error)
	// Delete deletes the sessions ids (at most MaxListed) in one statement; one
	// already gone is not an error.
	Delete(ctx context.Context, ids ...string) error
	DeleteForUser(ctx context.Context, userID string) (int64, error)
	// ListExpired lists up to limit sessions whose absolute expiry is before
	// now, or that have not been seen since idleSince (zero: no idle limit).
	ListExpired(ctx context.Context, now, idleSince time.Time, limit int) ([]string, error)
	// DeleteExpired removes the sessions ListExpired would list, all at once,
	// and returns their IDs: for a caller that has already revoked what was
	// issued under them (a restore watermark).
	DeleteExpired(ctx context.Context, now, idleSince time.Time) ([]string, error)
	// StepUp records a second factor on session id (issue 15: a security key):
	// its ACR and AMR change and its token hash is replaced, so the cookie
	// held before the step-up no longer opens it (WEB-06). ErrNotFound if
	// the session is gone.
	StepUp(ctx context.Context, id string, tokenHash []byte, acr string, amr []string) error
}

// ReplayKey is a key to accept once in the replay cache (Replay), kept until
// ExpiresAt: a sign-in flow's ID, an upstream assertion's ID.
type ReplayKey struct {
	Key       string
	ExpiresAt time.Time
}

// SignIn is what a completed sign-in writes, all or nothing.
type SignIn struct {
	// Used are the replay-cache keys the sign-in consumes, recorded as
	// Replay.Remember does at Session.CreatedAt: if one is already recorded
	// and unexpired, Record returns ErrAlreadyUsed and stores nothing.
	Used []ReplayKey
	// Session is the new session.
	Session Session
	// Login, when its ProviderID is set, is the login on that identity (as
	// Identities.RecordLogin; ErrNotFound and nothing stored if it is not
	// linked).
	Login Identity
	// MaxPerUser caps the user's sessions (0: no cap): past it, the oldest
	// others are deleted (DOS-12).
	MaxPerUser int
	// Profile, when its ID is set, is the user's email, verified flag and name
	// as the identity signed in with now says them (as Users.Update, the other
	// fields left alone).
	Profile User
	// RequireEnabledProvider: unless Session.ProviderID is a stored, enabled
	// provider when the transaction runs, Record stores nothing and returns
	// ErrDisabled. The provider's row is read under a shared lock, so a sign-in
	// racing an admin's disable either commits first (and the cut-off that
	// follows the disable finds its session) or sees the provider disabled.
	RequireEnabledProvider bool
}

// SignIns records a completed sign-in: the few writes every login makes, in
// one transaction.
type SignIns interface {
	// Record stores in and returns the IDs of the sessions it evicted.
	Record(ctx context.Context, in SignIn) (evicted []string, err error)
}

// AuthCode is an OAuth 2.0 authorization code; only its hash is stored.
type AuthCode struct {
	CodeHash      []byte
	GrantID       string // ties every token issued from this code together
	ClientID      string
	UserID        string
	SessionID     string
	RedirectURI   string
	Scopes        []string
	Audience      string
	CodeChallenge string
	Nonce         string
	AuthTime      time.Time
	ACR           string
	AMR           []string
	DelegationID  string
	// DPoPJKT is the dpop_jkt of the authorization request (RFC 9449 §10): the
	// token request must carry a proof by that key; "" when none was given.
	DPoPJKT   string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until redeemed
}

// Device authorization states (RFC 8628 §3.4–3.5): pending until the person
// decides on the /device page; an approved one is redeemed once by the device.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
	DeviceRedeemed = "redeemed"
)

// DeviceAuthorization is one device authorization request (RFC 8628 §3.1–3.2).
// The device code is stored only as its hash, the user code as a keyed hash.
type DeviceAuthorization struct {
	DeviceCodeHash []byte
	UserCodeHash   []byte
	ClientID       string
	// Scopes are the scopes the device asked for (empty: the client's), and
	// Audience the API the token is for (RFC 8707 resource, or the default).
	Scopes   []string
	Audience string
	Status   string
	// The outcome, set when the person decided (DeviceDecision).
	UserID        string
	SessionID     string
	GrantedScopes []string
	GrantID       string
	AuthTime      time.Time
	ACR           string
	AMR           []string
	// Interval is the minimum number of seconds between polls (§3.2), grown by
	// slow_down (§3.5); LastPollAt is the last poll, zero before the first.
	Interval   int
	LastPollAt time.Time
	CreatedAt  time.Time
	ExpiresAt  time.Time
	DecidedAt  time.Time
}

// DeviceDecision is the person's answer on the /device page: DeviceApproved
// with who, which session and what was granted, or DeviceDenied.
type DeviceDecision struct {
	Status        string
	UserID        string
	SessionID     string
	GrantedScopes []string
	GrantID       string
	AuthTime      time.Time
	ACR           string
	AMR           []string
}

// DeviceAuthorizations stores device authorization requests (RFC 8628).
type DeviceAuthorizations interface {
	// Create stores a new request; a user code hash already in use is ErrConflict.
	Create(ctx context.Context, d DeviceAuthorization) error
	// Get returns the request of a device code hash, in any state, expired too.
	Get(ctx context.Context, deviceCodeHash []byte) (DeviceAuthorization, error)
	// GetPending returns the pending, unexpired request of a user code hash;
	// anything else is ErrNotFound.
	GetPending(ctx context.Context, userCodeHash []byte, now time.Time) (DeviceAuthorization, error)
	// Decide records the person's decision on a pending, unexpired request,
	// once across every replica; a request no longer pending is ErrNotFound.
	Decide(ctx context.Context, deviceCodeHash []byte, d DeviceDecision, now time.Time) error
	// Polled records a poll at at and the interval from then on.
	Polled(ctx context.Context, deviceCodeHash []byte, at time.Time, interval int) error
	// Redeem marks an approved, unexpired request redeemed, exactly once across
	// every replica, and returns it. One already redeemed is ErrAlreadyUsed;
	// any other state, or an expired request, is ErrNotFound.
	Redeem(ctx context.Context, deviceCodeHash []byte, now time.Time) (DeviceAuthorization, error)
	DeleteExpired(ctx context.Context, before time.Time) (int64, error)
}

// Codes stores authorization codes.
type Codes interface {
	Create(ctx context.Context, c AuthCode) error
	// Redeem marks the code used, exactly once across every replica, and returns it.
	// A second redemption, even after expiry, returns the code together with
	// ErrAlreadyUsed, so the caller can revoke what the first one issued
	// (RFC 6749 §4.1.2). An expired code is ErrNotFound.
	Redeem(ctx context.Context, codeHash []byte, now time.Time) (AuthCode, error)
	DeleteExpired(ctx context.Context, before time.Time) (int64, error)
}

// RefreshToken is one link of a refresh-token family; only its hash is stored.
// A family is the one chain of rotations of a grant (a code or device
// authorization is redeemed once), so its tokens share their GrantID and a
// family is found through its grant.
type RefreshToken struct {
	TokenHash    []byte
	FamilyID     string
	GrantID      string
	ClientID     string
	UserID       string
	SessionID    string
	Scopes       []string
	Audience     string
	DelegationID string
	// AuthTime, ACR and AMR describe the login the grant came from; tokens
	// refreshed from it repeat them (OIDC Core §12.2).
	AuthTime time.Time
	ACR      string
	AMR      []string
	// DPoPJKT binds a public client's refresh token to its DPoP key (RFC 9449
	// §5): refreshing needs a proof by that key. "" for an unbound token.
	DPoPJKT   string
	CreatedAt time.Time
	ExpiresAt time.Time
	RotatedAt time.Time // zero while current
	RevokedAt time.Time // zero while not revoked
	// X5TS256 binds a public client's token to the thumbprint of the certificate
	// it presented (RFC 8705 §4); "" when unbound.
	X5TS256 string
}

// RefreshFilter selects refresh tokens to revoke; set fields are AND-ed and at least
// one must be set.
type RefreshFilter struct {
	GrantID  string
	UserID   string
	ClientID string
	// SessionIDs selects the tokens issued under any of these sessions (at most
	// MaxListed).
	SessionIDs   []string
	DelegationID string
	// IssuedBefore selects tokens created before it: the restore watermark that
	// revokes whatever a database backup brought back (DATA-12).
	IssuedBefore time.Time
}

// RefreshTokens stores refresh-token families.
type RefreshTokens interface {
	Create(ctx context.Context, t RefreshToken) error
	GetByHash(ctx context.Context, tokenHash []byte) (RefreshToken, error)
	// Rotate atomically marks the token oldHash rotated and stores next in the same
	// family and grant (next.FamilyID and next.GrantID are ignored); it returns the
	// old token as rotated. If
	// oldHash was already rotated it revokes the whole family and returns the old
	// token with ErrAlreadyUsed (RFC 9700 §4.14.2), whatever the token's state.
	// Otherwise revoked or expired: ErrNotFound.
	Rotate(ctx context.Context, oldHash []byte, next RefreshToken, now time.Time) (RefreshToken, error)
	// Revoke returns how many tokens it revoked (not those revoked already); an
	// empty filter is an error.
	Revoke(ctx context.Context, f RefreshFilter, now time.Time) (int64, error)
	DeleteExpired(ctx context.Context, before time.Time) (int64, error)
}

// Consent records the scopes a user granted a client.
type Consent struct {
	UserID     string
	ClientID   string
	Scopes     []string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastUsedAt time.Time
}

// Consents stores remembered consent decisions.
type Consents interface {
	Get(ctx context.Context, userID, clientID string) (Consent, error)
	// Put creates or replaces the consent of (user, client); a replacement keeps the
	// original CreatedAt.
	Put(ctx context.Context, c Consent) error
	ListForUser(ctx context.Context, userID string) ([]Consent, error)
	Touch(ctx context.Context, userID, clientID string, at time.Time) error
	Delete(ctx context.Context, userID, clientID string) error
	// DeleteForClient deletes every consent given to the client (a deleted
	// app) and returns how many.
	DeleteForClient(ctx context.Context, clientID string) (int64, error)
}

// Delegation lets a grantee (a user or a client) act for the grantor within Scopes
// of one API until ExpiresAt or until it ends (RevokedAt, EndReason).
type Delegation struct {
	ID              string
	GrantorID       string
	GranteeUserID   string
	GranteeClientID string
	Audience        string
	Scopes          []string
	// Note is the grantor's word to the grantee (at most MaxDelegationNote characters).
	Note string
	// MayRedelegate lets the grantee pass (part of) the grant on.
	MayRedelegate bool
	// ParentID is the delegation a re-delegation was given from; "" for the
	// grantor's own access.
	ParentID   string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time // when it ended; zero while not ended
	EndReason  string    // one of the DelegationEnd* reasons; "" while not ended
	LastUsedAt time.Time // zero until first used
	// Withheld are the scopes of Scopes the grantor no longer held at the last
	// re-check (delegate.Service.Recheck): what was issued under it was revoked
	// when they were withheld. Set with Withhold.
	Withheld []string
}

// MaxDelegationNote is the longest note a delegation may carry, in characters.
const MaxDelegationNote = 500

// Why a delegation ended.
const (
	DelegationEndRevoked         = "revoked"  // by the grantor
	DelegationEndDeclined        = "declined" // by the grantee
	DelegationEndGrantorDisabled = "grantor_disabled"
	DelegationEndGranteeDisabled = "grantee_disabled"
	DelegationEndEntitlementLost = "entitlement_lost" // the grantor no longer holds any of its scopes
	DelegationEndParentEnded     = "parent_ended"     // the delegation it was re-delegated from ended
	DelegationEndExpired         = "expired"          // ended by the maintenance pass after ExpiresAt
	DelegationEndGranteeRemoved  = "grantee_removed"  // the app it was given to was deleted
)

// Delegation statuses, as Status reports them.
const (
	DelegationActive       = "active"
	DelegationExpiringSoon = "expiring_soon"
	DelegationExpired      = "expired"
	DelegationRevoked      = "revoked"
	DelegationDeclined     = "declined"
)

// Status says what the delegation is at now: "declined" when the grantee declined
// it, "expired" from ExpiresAt on (also once the maintenance pass ended it for
// that), "revoked" when it ended for any other reason,
// "expiring_soon" when it expires within soon, "active" otherwise.
func (d Delegation) Status(now time.Time, soon time.Duration) string {
	switch {
	case !d.RevokedAt.IsZero() || d.EndReason != "":
		switch d.EndReason {
		case DelegationEndDeclined:
			return DelegationDeclined
		case DelegationEndExpired:
			return DelegationExpired
		}
		return DelegationRevoked
	case !now.Before(d.ExpiresAt):
		return DelegationExpired
	case d.ExpiresAt.Sub(now) <= soon:
		return DelegationExpiringSoon
	}
	return DelegationActive
}

// Delegations stores delegation grants.
type Delegations interface {
	Create(ctx context.Context, d Delegation) error
	Get(ctx context.Context, id string) (Delegation, error)
	ListByGrantor(ctx context.Context, grantorID string) ([]Delegation, error)
	// ListByGrantee lists grants to a user (granteeUserID) or a client (granteeClientID);
	// an empty argument matches nothing.
	ListByGrantee(ctx context.Context, granteeUserID, granteeClientID string) ([]Delegation, error)
	// ListByParent lists the re-delegations given from parentID, ended ones too;
	// an empty parentID matches nothing.
	ListByParent(ctx context.Context, parentID string) ([]Delegation, error)
	// Revoke is the grantor ending their grant (reason "revoked"); ErrNotFound
	// for anyone else. Ending it again keeps the first end.
	Revoke(ctx context.Context, id, grantorID string, at time.Time) error
	// End ends the delegation at at for reason. The first end wins: ending again
	// keeps the first RevokedAt and EndReason. ErrNotFound if there is no such ID.
	End(ctx context.Context, id string, at time.Time, reason string) error
	// Touch records the delegation's last use.
	Touch(ctx context.Context, id string, at time.Time) error
	// ListExpired lists at most limit delegations not ended whose ExpiresAt is
	// at or before now, the earliest expiry first (and, for one expiry, the
	// latest created first, so a re-delegation comes before its parent).
	ListExpired(ctx context.Context, now time.Time, limit int) ([]Delegation, error)
	// Withhold records the delegation's Withheld scopes (nil: none).
	// ErrNotFound if there is no such ID.
	Withhold(ctx context.Context, id string, scopes []string) error
	// GrantorsAt lists, once each, the users with an identity at providerID
	// who gave a delegation not ended and not expired at now.
	GrantorsAt(ctx context.Context, providerID string, now time.Time) ([]string, error)
}

// Signing key states. A key is published from "next" on, signs only while "active",
// and stays published while "retired" until the tokens it signed have expired. There
// is one active key per algorithm. A revoked (compromised) key is deleted at once.
const (
	KeyNext    = "next"
	KeyActive  = "active"
	KeyRetired = "retired"
)

// SigningKey is a token-signing key pair; the private part is sealed with the master key.
type SigningKey struct {
	ID          string // the JWK "kid"
	Algorithm   string // ES256, RS256 or EdDSA
	PublicJWK   []byte
	PrivateEnc  []byte
	State       string
	CreatedAt   time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
}

// SigningKeys stores token-signing keys.
type SigningKeys interface {
	Insert(ctx context.Context, k SigningKey) error
	List(ctx context.Context) ([]SigningKey, error)
	// Promote makes the "next" key kid active and retires the previously active
	// key(s) of the same algorithm, in one transaction. ErrNotFound if kid is not in
	// state "next".
	Promote(ctx context.Context, kid string, now time.Time) error
	// Retire retires the active key kid (one of an algorithm no longer used).
	// ErrNotFound if kid is not active.
	Retire(ctx context.Context, kid string, now time.Time) error
	// Delete removes the key kid whatever its state (a revoked key). ErrNotFound if
	// there is none.
	Delete(ctx context.Context, kid string) error
	// DeleteRetiredBefore removes keys retired before t.
	DeleteRetiredBefore(ctx context.Context, t time.Time) (int64, error)
	// Reseal replaces the sealed private part (master key rotation).
	Reseal(ctx context.Context, kid string, privateEnc []byte) error
}

// AuditEvent is one entry of the audit log: who did what to which target, from where.
type AuditEvent struct {
	ID        int64
	Time      time.Time
	Actor     string
	Action    string
	Target    string
	IP        string
	RequestID string
	Details   []byte // JSON object
	// EventID, made by the writer, makes Append insert-once: an event whose
	// EventID is stored already is skipped, so a retried batch or a replayed
	// spill file stores nothing twice. Empty: no such check.
	EventID string
}

// AuditFilter selects audit events, newest first; zero fields do not filter.
type AuditFilter struct {
	Actor  string
	Action string
	Target string
	Since  time.Time
	// Until excludes events at or after it (the end of a time range).
	Until time.Time
	// People, if not nil, keeps the events whose actor or target is one of
	// these user IDs; an empty non-nil list selects nothing (an email no
	// account has).
	People []string
	// Provider keeps the events about that provider: its target is the
	// provider and its action is one of ProviderActions.
	Provider string
	// Client keeps the events by that client (actor "client:ID") or about it
	// (target the client, action one of ClientActions).
	Client string
	// Outcome keeps refusals (OutcomeRefusal, see IsRefusal) or everything
	// else (OutcomeSuccess); "" keeps both.
	Outcome string
	Limit   int // 0: 100
	// After continues a listing after the event it names (the last one of the
	// previous page), in the same order; the zero value starts at the newest.
	After AuditCursor
}

// Audit outcomes (AuditFilter.Outcome).
const (
	OutcomeSuccess = "success"
	OutcomeRefusal = "refusal"
)

// ProviderActions are the action prefixes of the events whose target is a
// provider ID: sign-ins and their refusals, account links, upstream logouts and
// admin changes to the provider.
var ProviderActions = []string{"signin.", "identity.", "logout.", "provider."}

// ClientActions are the action prefixes of the events whose target is a client
// ID: consent, codes, RP-initiated logout refusals and admin changes to the
// client. Token issuance and OAuth refusals name the client as their actor.
var ClientActions = []string{"client.", "consent.", "code.", "logout."}

// refusalSuffixes end the actions of refused or failed requests
// (signin.refused, identity.link_refused, oauth.rejected, signin.begin_failed).
var refusalSuffixes = []string{"refused", "rejected", "failed"}

// RefusalSuffixes returns the action suffixes that make an event a refusal.
func RefusalSuffixes() []string { return append([]string(nil), refusalSuffixes...) }

// IsRefusal reports whether an event of action records something refused or
// failed: its action ends in "refused", "rejected" or "failed".
func IsRefusal(action string) bool {
	for _, s := range refusalSuffixes {
		if strings.HasSuffix(action, s) {
			return true
		}
	}
	return false
}

// AuditDayQuery asks for the number of events per UTC day.
type AuditDayQuery struct {
	// Actions are counted, each on its own; at least one.
	Actions []string
	// Since and Until bound the time range [Since, Until).
	Since, Until time.Time
	// ByTarget also groups by target (for sign-ins: the provider).
	ByTarget bool
}

// AuditDayCount is how many events of Action (and Target, if grouped by it)
// happened on Day (midnight UTC).
type AuditDayCount struct {
	Day    time.Time
	Action string
	Target string
	N      int
}

// AuditCursor names an event's place in the newest-first order of List.
type AuditCursor struct {
	Time time.Time
	ID   int64
}

// Cursor is e's place in the order of List, for AuditFilter.After.
func (e AuditEvent) Cursor() AuditCursor { return AuditCursor{Time: e.Time, ID: e.ID} }

// String is c for a URL: the time in Unix microseconds, a dot, the ID.
func (c AuditCursor) String() string {
	return strconv.FormatInt(c.Time.UnixMicro(), 10) + "." + strconv.FormatInt(c.ID, 10)
}

// ParseAuditCursor reads what AuditCursor.String wrote.
func ParseAuditCursor(s string) (AuditCursor, error) {
	us, id, ok := strings.Cut(s, ".")
	t, err1 := strconv.ParseInt(us, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || n <= 0 {
		return AuditCursor{}, errors.New("store: malformed audit cursor")
	}
	return AuditCursor{Time: time.UnixMicro(t).UTC(), ID: n}, nil
}

// Audit stores the append-only audit log.
type Audit interface {
	// Append stores the events in one transaction; the store assigns their IDs.
	// Events whose EventID is stored already are skipped, without error.
	Append(ctx context.Context, events ...AuditEvent) error
	List(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// Count returns how many events f selects (ignoring Limit and After),
	// counting at most atMost of them.
	Count(ctx context.Context, f AuditFilter, atMost int) (int, error)
	// CountByDay returns the non-zero counts of q, oldest day first, then by
	// action and target.
	CountByDay(ctx context.Context, q AuditDayQuery) ([]AuditDayCount, error)
	// Latest returns, for every pair of an action in actions and a target in
	// targets, the pair's newest event if it has one (at most
	// len(actions)*len(targets) events, in no set order): each provider's last
	// sign-in and last refusal in one query, each pair read newest-first from
	// the (target, occurred_at) index.
	Latest(ctx context.Context, actions, targets []string) ([]AuditEvent, error)
}

// AuditBatches is an Audit that writes the audit writer's batches apart from the
// requests, an optional capability: AppendBatch stores events as Append does, but
// on a connection of its own that request traffic never takes, so a batch due
// is written at once however busy the requests keep the others (issue 14: a
// kill -9 loses only the batch window).
type AuditBatches interface {
	AppendBatch(ctx context.Context, events ...AuditEvent) error
}

// Replay is an insert-once cache of identifiers (SAML assertion IDs, client
// assertion jti values) kept until they expire.
type Replay interface {
	// Remember stores key until expiresAt; ErrAlreadyUsed if an unexpired entry exists.
	Remember(ctx context.Context, key string, expiresAt, now time.Time) error
	// Used reports whether key is recorded and unexpired at now, so a spent
	// flow is refused before its response is verified. It decides nothing: of
	// concurrent uses of one key, Remember (or SignIns.Record) lets exactly one
	// through.
	Used(ctx context.Context, key string, now time.Time) (bool, error)
	DeleteExpired(ctx context.Context, before time.Time) (int64, error)
}

// Revocations is a list of revoked self-contained tokens (JWT access tokens), kept
// until the tokens it covers have expired. An entry revokes every token that carries
// its key (e.g. "jti:…", "grant:…", "session:…") and was issued before IssuedBefore.
type Revocations interface {
	// Revoke stores each of keys (at most MaxListed) in one statement; where a key
	// is already stored, the later IssuedBefore and the later keepUntil win, so a
	// revocation never shrinks.
	Revoke(ctx context.Context, issuedBefore, keepUntil time.Time, keys ...string) error
	// Latest returns the latest IssuedBefore among the stored keys in keys, or the
	// zero time if none is stored.
	Latest(ctx context.Context, keys []string) (time.Time, error)
	// Standing reads in one query what using a grant's token depends on
	// besides the token itself: its user, its session and its revocation keys.
	Standing(ctx context.Context, of StandingOf) (Standing, error)
	DeleteExpired(ctx context.Context, before time.Time) (int64, error)
}

// StandingOf names what Revocations.Standing reads.
type StandingOf struct {
	UserID string
	// SessionID is the sign-in the grant came from; "" for none.
	SessionID string
	// Keys are revocation keys (as for Latest); none for no check.
	Keys []string
}

// Standing is whether a grant's tokens may still be used or issued, apart from
// the token's own state.
type Standing struct {
	// UserActive: the user exists and is not disabled.
	UserActive bool
	// SessionEnded: the session is gone (whatever ended it revoked its
	// tokens), or its provider is removed or disabled. Never for a grant
	// without a session (client credentials, delegation). It stands behind
	// the revocation list for what a cut-off could miss: a provider disabled
	// without one (a providers file, a database edit), a code issued before
	// the cut-off and redeemed after it.
	SessionEnded bool
	// Revoked is the latest IssuedBefore among the keys' entries, or the zero
	// time if none is stored.
	Revoked time.Time
}
