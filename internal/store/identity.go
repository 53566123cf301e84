package store

import (
	"context"
	"strings"
	"time"
)

// ExternalUserPrefix starts the username of every user provisioned for an
// external identity. Local users (CLI, bootstrap, config mappings) may not
// use it, so a provisioned user can never be, or become, a local account.
const ExternalUserPrefix = "ext:"

// IsExternalUsername reports whether name is in the namespace of users
// provisioned for external identities.
func IsExternalUsername(name string) bool { return strings.HasPrefix(name, ExternalUserPrefix) }

// IdentityLink ties an external identity, the pair (Issuer, Subject), to
// the local user it logs in as. Names and emails never identify an
// external identity; only this pair does.
type IdentityLink struct {
	Issuer    string // the issuer's exact iss value
	Subject   string // the issuer's sub for the identity
	Username  string // the local user
	CreatedAt time.Time
}

// Identities is the external identity part of the store. A link goes
// with its user: DeleteUser removes the user's links.
type Identities interface {
	// GetIdentityLink returns the link of (issuer, subject); ErrNotFound
	// when there is none.
	GetIdentityLink(ctx context.Context, issuer, subject string) (IdentityLink, error)
	// ProvisionIdentity creates the user u and the link l to it in one
	// transaction. When (l.Issuer, l.Subject) is linked already or
	// u.Username is taken, it reports ErrConflict and creates nothing, so
	// of concurrent first logins of one identity exactly one creates the
	// user and the link; the others read the link.
	ProvisionIdentity(ctx context.Context, u User, l IdentityLink) error
}
