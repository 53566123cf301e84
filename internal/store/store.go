// Package store defines tokengate's domain records and the Store interface
// that every storage backend implements. The core (grants, keys, CLI) needs
// exactly these operations and no more; backends live in sub-packages
// (sqlite, postgres) and prove themselves with the storetest conformance suite.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors returned by every backend. Callers test with errors.Is.
var (
	// ErrNotFound means the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a record with the same identity already exists.
	ErrConflict = errors.New("already exists")
	// ErrStale means a compare-and-set failed: the family's generation
	// is no longer the one read, or the family was revoked meanwhile. The
	// caller reads again and decides again.
	ErrStale = errors.New("family changed since it was read")
	// ErrUnavailable means the backend cannot be reached (database down,
	// pool exhausted past its timeout). The server answers 503.
	ErrUnavailable = errors.New("store unavailable")
	// ErrStorageFull means a write failed because the database's storage
	// is full (SQLITE_FULL, PostgreSQL disk_full). Backends wrap it
	// together with ErrUnavailable.
	ErrStorageFull = errors.New("storage full")
)

// MaxRefreshReuseInterval bounds a client's RefreshReuseInterval, wherever
// it is set (config, CLI, admin API): the grace is for a retry of a lost
// answer, which takes seconds; a long one would switch reuse detection off.
const MaxRefreshReuseInterval = 5 * time.Minute

// User is a person (or service account) that logs in with a password or an
// API key.
type User struct {
	Username string
	// PasswordHash is an argon2id PHC string, or a hash of another
	// format imported from an earlier system (secret.Identify), replaced
	// by argon2id at the first login; empty means no password login.
	PasswordHash string
	Disabled     bool
	Scopes       []string // scopes this user may be granted; empty means any the client allows
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// NotBefore is when the user's sessions were last ended (disabled,
	// password changed, sessions revoked): tokens issued to the user
	// before it are inactive. Zero: never. Written only by EndSessions.
	NotBefore time.Time
}

// Client is an OAuth 2.0 client (RFC 6749 §2).
type Client struct {
	ID         string
	SecretHash []byte // SHA-256 of the secret; nil for public clients
	Public     bool
	Grants     []string // allowed grant_type values
	Scopes     []string // scopes the client may request; also its default when scope is omitted
	// Per-client overrides; zero means the server default.
	AccessTokenTTL       time.Duration
	RefreshTokenTTL      time.Duration
	RefreshReuseInterval time.Duration
	// NoIntrospect withholds introspection (RFC 7662) from a confidential
	// client; public clients may never introspect.
	NoIntrospect bool
	// Resources are the audiences (RFC 8707 resource, RFC 8693 audience)
	// the client may ask tokens for; empty means the server's configured
	// audience and exchange audiences.
	Resources []string
	// RedirectURIs are the registered redirection endpoints of the
	// authorization code flow (RFC 6749 §3.1.2), matched exactly.
	RedirectURIs []string
	// ThirdParty clients need the user's consent before a code is issued.
	ThirdParty bool
	// Origins are the browser origins (scheme://host[:port]) allowed to
	// call the token and revocation endpoints with CORS.
	Origins   []string
	CreatedAt time.Time
	// LegacySecretHash is a secret hash imported from another system
	// (bcrypt as Laravel Passport stores it, Django's hashers as Django
	// OAuth Toolkit 2.x does; see secret.Identify). A client has it
	// instead of SecretHash until its first successful authentication,
	// which replaces it by SecretHash (UpgradeClientSecret). Empty for
	// clients made by tokengate.
	LegacySecretHash string
}

// APIKey is a long-lived secret a user or client exchanges for access tokens.
type APIKey struct {
	ID         string // short public identifier, used by list and revoke
	Hash       []byte // SHA-256 of the whole key
	Name       string
	Username   string // owner when the key belongs to a user
	ClientID   string // owner when the key belongs to a client
	Prefix     string // first characters of the key, safe to display
	Last4      string // last four characters, safe to display
	Scopes     []string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: not revoked
}

// Family is one login session: every refresh token descended from one
// login shares it. Generation counts rotations; the only live token of a
// family is the one whose generation equals the family's. A family is the
// only record its tokens leave: a token states its family and generation
// under a MAC (or a signature), so an older one is recognised as a reuse
// without a row of its own, and the store keeps the SHA-256 of the live
// token (Hash) and of the one it replaced (PrevHash) only.
type Family struct {
	ID         string
	Subject    string // username, or client id for client-only grants
	ClientID   string
	Scopes     []string
	AuthTime   time.Time
	Generation int64
	RotatedAt  time.Time // time of the latest rotation; zero before the first
	Revoked    bool
	ExpiresAt  time.Time // expiry of the current generation's token
	// Extra holds grant-specific data to carry across refreshes (for
	// example the audience of a token-exchange login). It is opaque to the store.
	Extra map[string]string
	// Rotation is the family's refresh policy, fixed at login: "rotate"
	// (every refresh replaces the token) or "fixed" (the token stays valid
	// until it expires). Empty for families created before the policy was
	// stored; the core then applies the route's. Opaque to the store.
	Rotation string
	// Format is the form of the family's refresh tokens, fixed at login:
	// "opaque" or "jwt"; empty as for Rotation. Opaque to the store.
	Format string
	// Hash is the SHA-256 of the current generation's token; written by
	// CreateFamily (from its token) and AdvanceFamily (NewHash).
	Hash []byte
	// PrevHash is the SHA-256 of the previous generation's token (nil
	// before the first rotation), for the reuse interval's grace.
	PrevHash []byte
	// SubjectActive is filled by GetRefresh and GetFamily: whether Subject is, at that
	// moment, an existing user who is not disabled. It saves the refresh
	// grant a second round trip to the database. Ignored on writes.
	SubjectActive bool
}

// RefreshToken is a refresh token as the core sees it: the SHA-256 of
// its value, and the family and generation it states (or, for a token of
// the earlier stored form, that its row records). Only the hash ever
// reaches the store.
type RefreshToken struct {
	Hash       []byte
	FamilyID   string
	Generation int64
	IssuedAt   time.Time
	ExpiresAt  time.Time
}

// Advance persists a rotation the core decided: the family FamilyID,
// read at generation Generation, moves to Generation+1 with the new token
// NewHash, expiring at ExpiresAt.
type Advance struct {
	FamilyID   string
	Generation int64 // the generation read; the compare-and-set's expectation
	NewHash    []byte
	Now        time.Time
	ExpiresAt  time.Time // expiry of the new token
}

// SigningKey is a JWT signing key. Private is the PKCS#8 DER of the
// private key, encrypted when a master key is configured.
type SigningKey struct {
	ID        string // kid
	Algorithm string // EdDSA, ES256 or RS256
	// Purpose is the key's slot: "" for the key that signs access and
	// refresh tokens, PurposeIDToken for the key that signs only OpenID
	// Connect ID tokens. Each purpose has its own active key, rotated and
	// retired on its own.
	Purpose   string
	Private   []byte
	Encrypted bool
	CreatedAt time.Time
	// RetiredAt is when the key stopped signing; zero for the active key.
	RetiredAt time.Time
	// ExpiresAt is when the key may be deleted: after the last token it
	// signed has expired. Zero while the key is active.
	ExpiresAt time.Time
	// RevokedAt is when the key was revoked as compromised; zero when it
	// was not. A revoked key is neither published nor trusted.
	RevokedAt time.Time
}

// PurposeIDToken is the SigningKey.Purpose of ID token keys.
const PurposeIDToken = "id_token"

// Users is the user part of the store.
type Users interface {
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, username string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	// ListUsersAfter returns at most limit users whose names sort after
	// `after` in byte order, in that order: a page of the list that reads
	// no more than the page.
	ListUsersAfter(ctx context.Context, after string, limit int) ([]User, error)
	// UpdateUser replaces the password hash, disabled flag and scopes.
	UpdateUser(ctx context.Context, u User) error
	// CreateUsers stores new users in one transaction, all or none:
	// ErrConflict when any username is taken (or given twice), and then
	// nothing is written.
	CreateUsers(ctx context.Context, us []User) error
	// ReplacePasswordHash sets the user's password hash to newHash and
	// UpdatedAt to at, only if the stored hash is still oldHash (a
	// compare-and-set in one conditional statement): a login upgrading
	// the hash it verified never overwrites a password changed meanwhile.
	// It reports ErrStale when the hash is no longer oldHash (nothing is
	// written), ErrNotFound when the user does not exist. NotBefore is
	// kept: the password itself is unchanged.
	ReplacePasswordHash(ctx context.Context, username, oldHash, newHash string, at time.Time) error
	// DeleteUser removes the user, its API keys and its identity links,
	// and revokes every family it owns.
	DeleteUser(ctx context.Context, username string) error
}

// Clients is the client part of the store.
type Clients interface {
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	// ListClientsAfter returns at most limit clients whose ids sort after
	// `after` in byte order, in that order.
	ListClientsAfter(ctx context.Context, after string, limit int) ([]Client, error)
	// UpdateClient replaces the secret hash, public flag, grants, scopes,
	// lifetimes, reuse interval, resources, redirect URIs, third-party
	// flag and origins of the client c.ID; ErrNotFound when
	// absent. CreatedAt is kept.
	UpdateClient(ctx context.Context, c Client) error
	// DeleteClient removes the client and its API keys and revokes every
	// family it owns.
	DeleteClient(ctx context.Context, id string) error
	// CreateClients stores new clients in one transaction, all or none:
	// ErrConflict when any id is taken (or given twice), and then nothing
	// is written.
	CreateClients(ctx context.Context, cs []Client) error
	// UpgradeClientSecret sets the client's SecretHash to newHash and
	// empties its LegacySecretHash, only if LegacySecretHash is still the
	// non-empty oldLegacy and the client has no SecretHash (a secret set
	// meanwhile wins; a compare-and-set in one conditional statement).
	// It reports ErrStale when not (nothing is written),
	// ErrNotFound when the client does not exist.
	UpgradeClientSecret(ctx context.Context, id, oldLegacy string, newHash []byte) error
	// ClientsVersion returns a value that changes whenever a client may
	// have changed since it was last returned: created, updated or
	// deleted by this process, by another process on the same database
	// (the CLI) or by another node. ok is false while the store cannot
	// tell (a lost change feed); a client cache must then read the
	// store. It is cheap enough to call on every client look-up.
	ClientsVersion(ctx context.Context) (v uint64, ok bool)
}

// APIKeys is the API key part of the store.
type APIKeys interface {
	CreateAPIKey(ctx context.Context, k APIKey) error
	// GetAPIKeyByHash returns the key whose SHA-256 is hash.
	GetAPIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// ListAPIKeysAfter returns at most limit keys whose ids sort after
	// `after` in byte order, in that order; with username set, only that
	// user's keys.
	ListAPIKeysAfter(ctx context.Context, username, after string, limit int) ([]APIKey, error)
	// RevokeAPIKey marks the key revoked; ErrNotFound when absent.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// TouchAPIKey records a use of the key.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// Refresh is the refresh token part of the store.
type Refresh interface {
	// CreateFamily stores a new family at generation f.Generation with
	// its first token: t.Hash becomes the family's Hash. No token row is
	// written. ErrConflict when the family id exists.
	CreateFamily(ctx context.Context, f Family, t RefreshToken) error
	// GetFamily returns a family by id, with Hash, PrevHash and
	// SubjectActive, in one round trip, whatever its state; ErrNotFound
	// when it does not exist.
	GetFamily(ctx context.Context, id string) (Family, error)
	// GetRefresh returns a token of the earlier stored form (a row per
	// token, written before migration 0011) and its family by the
	// token's hash. It reports ErrNotFound when the hash is unknown and
	// never fails for reasons of state: callers inspect the family. Such
	// rows are only read and, once expired, deleted; none is written.
	GetRefresh(ctx context.Context, hash []byte) (RefreshToken, Family, error)
	// AdvanceFamily persists a rotation decided by the core, atomically
	// and only if the family is still at a.Generation and not revoked (a
	// compare-and-set; one conditional statement): the family moves to
	// generation a.Generation+1, PrevHash becomes the old Hash and Hash
	// a.NewHash, which makes it the only live token. It reports ErrStale
	// when the condition failed (nothing is written). A store never
	// decides whether a token may rotate; it only loads (GetFamily) and
	// persists.
	AdvanceFamily(ctx context.Context, a Advance) error
	// RevokeFamily revokes one family; revoking twice is not an error.
	RevokeFamily(ctx context.Context, familyID string) error
	// RevokeSubjectFamilies revokes every family of a subject and returns
	// how many were revoked.
	RevokeSubjectFamilies(ctx context.Context, subject string) (int, error)
	// EndSessions ends every session of user username at at, atomically:
	// the user's NotBefore becomes at (tokens issued before it are
	// inactive) and every family of the user is revoked. It returns how
	// many families it revoked; ErrNotFound when the user does not exist.
	EndSessions(ctx context.Context, username string, at time.Time) (int, error)
	// AccessState reads, in one round trip, what decides whether a valid
	// access token is still active: whether its jti is denied, whether its
	// family (sid; "" for none) is revoked or gone, and its subject's state.
	AccessState(ctx context.Context, q AccessQuery) (AccessState, error)
}

// AccessQuery names what AccessState reads.
type AccessQuery struct {
	JTI      string
	FamilyID string // "" when the token carries no sid
	Subject  string
	// ClientID is the client the token was issued to (its client_id).
	ClientID string
	// KeyID is the kid of the key that signed the token: its revocation
	// is read in the same statement.
	KeyID string
}

// AccessState is what AccessState found.
type AccessState struct {
	Denied bool // the jti is on the denylist
	// FamilyRevoked is true when FamilyID was given and that family is
	// revoked or no longer exists.
	FamilyRevoked bool
	// UserExists, UserDisabled, UserCreatedAt and UserNotBefore describe
	// the user named Subject, when one exists.
	UserExists    bool
	UserDisabled  bool
	UserCreatedAt time.Time
	UserNotBefore time.Time
	// ClientExists is true when a client is named Subject (a client's
	// own tokens carry its id as subject).
	ClientExists bool
	// TokenClientExists and TokenClientCreatedAt describe the client
	// named ClientID, when one exists: a token issued before its client
	// was created belongs to a deleted client of the same id.
	TokenClientExists    bool
	TokenClientCreatedAt time.Time
	// KeyRevoked is true when the signing key named KeyID was revoked
	// (as Keys.SigningKeyRevoked reports it).
	KeyRevoked bool
}

// Denylist holds the jti of revoked access tokens until they expire.
type Denylist interface {
	DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error
	IsAccessTokenDenied(ctx context.Context, jti string) (bool, error)
}

// Keys is the signing key part of the store.
type Keys interface {
	// ListSigningKeys returns every stored key, newest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKey stores k as the active key of its purpose
	// (k.Purpose) and retires the previously active key of that purpose
	// (RetiredAt = k.CreatedAt, ExpiresAt = retireUntil) in one
	// transaction; keys of other purposes are untouched. The swap happens
	// only if expectActive is the id of the active key of k.Purpose (""
	// meaning that purpose has no active key); otherwise it reports
	// ErrConflict, so two nodes rotating (or starting on an empty store)
	// together make one new key, not two. A duplicate id is ErrConflict too.
	AddSigningKey(ctx context.Context, k SigningKey, expectActive string, retireUntil time.Time) error
	// RevokeSigningKey marks a retired key revoked at at (a compromised
	// key: every token it signed is void). ErrNotFound when kid is
	// unknown; ErrConflict when it is an active key, of any purpose (rotate first).
	// Revoking twice is not an error and keeps the first time.
	RevokeSigningKey(ctx context.Context, kid string, at time.Time) error
	// SigningKeyRevoked reports whether kid is a stored key that has been
	// revoked; an unknown kid is not revoked.
	SigningKeyRevoked(ctx context.Context, kid string) (bool, error)
}

// Attempts counts failed logins per key (a username or a client IP) for
// brute-force protection. Counters live in the store so that several nodes
// share them.
type Attempts interface {
	// RecordFailure adds one failure for key. Failures older than window
	// are forgotten first. It returns the count within the window after
	// the addition.
	RecordFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	// Failures returns the count of failures for key within the window
	// ending at now, and the time of the latest one.
	Failures(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error)
	// ResetFailures forgets every failure of key.
	ResetFailures(ctx context.Context, key string) error
	// ReserveAttempt counts one attempt for key in one atomic statement,
	// before the credential is checked, but only while the key is under
	// its limit: when the key's current window (reset as RecordFailure
	// does, with window) holds fewer than limit attempts, or its latest
	// attempt is not later than since (a lock-out has run out). It returns
	// the count after the call and whether the attempt was counted; a
	// refused attempt changes nothing. Concurrent calls, on any number of
	// nodes, never count more than the limit allows.
	ReserveAttempt(ctx context.Context, key string, now time.Time, window time.Duration, limit int, since time.Time) (int, bool, error)
	// ReleaseAttempt takes back one reserved attempt of key (a login that
	// succeeded was no guess worth counting against a shared key); the
	// count never goes below zero.
	ReleaseAttempt(ctx context.Context, key string) error
}

// Kinds of record a tombstone names.
const (
	KindUser   = "user"
	KindClient = "client"
)

// Tombstones remember which users and clients were deleted, so that the
// config's bootstrap section does not bring them back. Deleting a user or
// client records its tombstone in the same transaction; creating one under
// the same name clears it.
type Tombstones interface {
	// Deleted reports whether the record of kind (KindUser, KindClient)
	// named name was deleted and not re-created since.
	Deleted(ctx context.Context, kind, name string) (bool, error)
}

// Store is everything tokengate keeps. Implementations are safe for
// concurrent use.
type Store interface {
	Users
	Clients
	APIKeys
	Refresh
	Denylist
	Keys
	Attempts
	Tombstones
	Identities
	DeviceAuthorizations
	AuthCodes
	WebSessions
	// DeleteExpired removes expired refresh tokens, families, denylist
	// entries, signing keys, stale failure counters, authorization codes
	// past PurgeAt, expired browser sessions and expired device
	// authorizations, returning how many rows went.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// ProbeWrite commits a small write and undoes it, to tell whether the
	// store can write at all (a full disk, a read-only database).
	ProbeWrite(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
