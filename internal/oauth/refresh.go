package oauth

import (
	"crypto/subtle"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// Refresh policies stored with a family (store.Family.Rotation and
// Format). They are fixed when the family is created (at login) and apply
// on every route the family's tokens are presented at.
const (
	RotationRotate = "rotate" // every refresh replaces the refresh token
	RotationFixed  = "fixed"  // the refresh token stays valid until it expires
	FormatOpaque   = "opaque"
	FormatJWT      = "jwt"
)

// RefreshOutcome is what a refresh request does, as DecideRefresh
// decides it.
type RefreshOutcome int

// The outcomes of a refresh request.
const (
	// RefreshRotate: the live token; the family advances one generation.
	RefreshRotate RefreshOutcome = iota + 1
	// RefreshGraceRotate: the token rotated most recently, presented again
	// within the client's reuse interval (a lost response); the family
	// advances again and the token that replaced it dies.
	RefreshGraceRotate
	// RefreshKeep: the live token of a family that does not rotate; an
	// access token is issued and the family is unchanged.
	RefreshKeep
	// RefreshReuse: a token that was already replaced; the whole family
	// is revoked (RFC 9700 §4.14.2).
	RefreshReuse
	// RefreshRevoked: the family was revoked.
	RefreshRevoked
	// RefreshExpired: the token has expired (expiry is inclusive).
	RefreshExpired
	// RefreshUserInactive: the family's user no longer exists or is
	// disabled.
	RefreshUserInactive
	// RefreshWrongClient: the token was issued to another client; it is
	// answered as an unknown token and changes nothing.
	RefreshWrongClient
	// RefreshForged: a token whose MAC (or signature) verifies but whose
	// hash is not the one the family stores for its generation (the live
	// one, or the previous one within the grace): this server never
	// handed it out. Only a leaked key or a bug makes one, so it fails
	// closed: the family is revoked and the token answered as unknown.
	RefreshForged
	// RefreshAhead: a verified token of a generation the family has not
	// reached. A store restored from a backup meets the tokens rotated
	// after the backup was taken; it is answered as an unknown token and
	// changes nothing (as a token the store never knew would be).
	RefreshAhead
)

// String names the outcome for logs and test failures.
func (o RefreshOutcome) String() string {
	switch o {
	case RefreshRotate:
		return "rotate"
	case RefreshGraceRotate:
		return "grace-rotate"
	case RefreshKeep:
		return "keep"
	case RefreshReuse:
		return "reuse"
	case RefreshRevoked:
		return "revoked"
	case RefreshExpired:
		return "expired"
	case RefreshUserInactive:
		return "user-inactive"
	case RefreshWrongClient:
		return "wrong-client"
	case RefreshForged:
		return "forged"
	case RefreshAhead:
		return "ahead"
	}
	return "unknown"
}

// RefreshInput is everything the refresh decision depends on.
type RefreshInput struct {
	// Token is the presented token: its hash, and the family, generation
	// and expiry it states under its MAC or signature (or, when Stored,
	// that its row records).
	Token  store.RefreshToken
	Family store.Family
	// Stored is true for a token of the earlier form, found by its hash
	// among the stored token rows: the row proves its generation, so its
	// hash is not compared with the family's.
	Stored bool
	// ClientID is the client the request acts as.
	ClientID string
	// ReuseInterval is that client's grace period for presenting the
	// token it rotated most recently again; zero is strict.
	ReuseInterval time.Duration
	// Rotate is the family's rotation policy (see FamilyRotates).
	Rotate bool
	Now    time.Time
}

// DecideRefresh is the one place where tokengate decides what a presented
// refresh token does. It is a pure function: stores only load its inputs
// and persist its outcome (with a compare-and-set on the generation read).
//
// A token's generation comes from its MAC'd (or signed) content, so an
// ancestor needs no stored row to be recognised as a reuse; but nothing
// is issued on the MAC alone: the live token (and, for the grace, the one
// it replaced) must also match the hash the family stores, so a leaked
// MAC key lets nobody take over a session.
func DecideRefresh(in RefreshInput) RefreshOutcome {
	t, f := in.Token, in.Family
	switch {
	case f.ClientID != in.ClientID:
		return RefreshWrongClient
	case f.Revoked:
		return RefreshRevoked
	case !in.Now.Before(t.ExpiresAt):
		return RefreshExpired
	case !f.SubjectActive:
		return RefreshUserInactive
	case t.Generation > f.Generation:
		return RefreshAhead
	case t.Generation == f.Generation:
		if !in.Stored && !hashEqual(t.Hash, f.Hash) {
			return RefreshForged
		}
		if in.Rotate {
			return RefreshRotate
		}
		return RefreshKeep
	case in.Rotate && in.ReuseInterval > 0 && t.Generation == f.Generation-1 &&
		in.Now.Sub(f.RotatedAt) < in.ReuseInterval:
		if !in.Stored && !hashEqual(t.Hash, f.PrevHash) {
			return RefreshForged
		}
		return RefreshGraceRotate
	default:
		return RefreshReuse
	}
}

// hashEqual compares two token hashes in constant time; an empty one
// matches nothing.
func hashEqual(a, b []byte) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare(a, b) == 1
}

// FamilyRotates reports whether a family's tokens rotate: its stored
// policy, or, for a family created before policies were stored, the
// route's (p).
func FamilyRotates(f store.Family, p *Profile) bool {
	switch f.Rotation {
	case RotationRotate:
		return true
	case RotationFixed:
		return false
	}
	return !p.NoRotation
}

// familyJWT reports whether a family's refresh tokens are JWTs, by the
// same rule as FamilyRotates.
func familyJWT(f store.Family, p *Profile) bool {
	switch f.Format {
	case FormatJWT:
		return true
	case FormatOpaque:
		return false
	}
	return p.JWTRefresh
}

// policyOf is the policy a family created through route p stores.
func policyOf(p *Profile) (rotation, format string) {
	rotation, format = RotationRotate, FormatOpaque
	if p.NoRotation {
		rotation = RotationFixed
	}
	if p.JWTRefresh {
		format = FormatJWT
	}
	return rotation, format
}
