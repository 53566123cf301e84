package store

import (
	"context"
	"time"
)

// AuthCode is an authorization code (RFC 6749 §4.1), identified by the
// SHA-256 of its value: only the hash reaches the store. It is bound to
// everything its redemption must match.
type AuthCode struct {
	Hash        []byte
	ClientID    string
	RedirectURI string
	Challenge   string // the S256 code_challenge (RFC 7636)
	Username    string
	Scopes      []string
	Nonce       string    // OpenID Connect nonce, "" when none was sent
	AuthTime    time.Time // when the user signed in
	SessionID   string    // the browser session the code was issued in
	// FamilyID is the refresh family the redemption creates, chosen when
	// the code is made, so that a second use can revoke it.
	FamilyID  string
	CreatedAt time.Time
	ExpiresAt time.Time // the code is refused from then on (the core checks)
	// PurgeAt is when DeleteExpired may remove the record; later than
	// ExpiresAt, so that a late second use is still recognised.
	PurgeAt time.Time
	// Redemptions counts redemption attempts; RedeemAuthCode returns the
	// count including its own.
	Redemptions int64
}

// WebSession is a browser sign-in session. The cookie holds a random id;
// the store keeps only its SHA-256.
type WebSession struct {
	IDHash    []byte
	Username  string
	AuthTime  time.Time
	ExpiresAt time.Time
}

// AuthCodes is the authorization code part of the store.
type AuthCodes interface {
	// CreateAuthCode stores a new code; ErrConflict when its hash exists.
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// GetAuthCode returns the code whose hash is hash; ErrNotFound when
	// unknown.
	GetAuthCode(ctx context.Context, hash []byte) (AuthCode, error)
	// RedeemAuthCode counts one redemption of the code in one atomic
	// statement and returns the record with the count after it: of any
	// number of concurrent calls, on any number of nodes, exactly one
	// sees Redemptions == 1. ErrNotFound when unknown. It never decides
	// whether the redemption is valid; the core does.
	RedeemAuthCode(ctx context.Context, hash []byte) (AuthCode, error)
}

// WebSessions is the browser session part of the store. A session goes
// with its user: DeleteUser removes the user's sessions.
type WebSessions interface {
	// CreateWebSession stores a new session; ErrConflict when its hash exists.
	CreateWebSession(ctx context.Context, s WebSession) error
	// GetWebSession returns the session whose id hashes to hash;
	// ErrNotFound when unknown. An expired session is returned as well:
	// the caller checks ExpiresAt.
	GetWebSession(ctx context.Context, hash []byte) (WebSession, error)
	// DeleteWebSession removes a session; deleting an unknown one is not
	// an error.
	DeleteWebSession(ctx context.Context, hash []byte) error
}
