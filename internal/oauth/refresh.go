package oauth

import (
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
	}
	return "unknown"
}

// RefreshInput is everything the refresh decision depends on.
type RefreshInput struct {
	Token  store.RefreshToken
	Family store.Family
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
	case t.Generation == f.Generation:
		if in.Rotate {
			return RefreshRotate
		}
		return RefreshKeep
	case in.Rotate && in.ReuseInterval > 0 && t.Generation == f.Generation-1 &&
		in.Now.Sub(f.RotatedAt) < in.ReuseInterval:
		return RefreshGraceRotate
	default:
		return RefreshReuse
	}
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
