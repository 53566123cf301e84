package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokengate/tokengate/internal/store"
)

// clientNameClash says why id may not name a new client, or "": a
// client's own tokens carry its id as sub, so a client named like a user
// (or like a user provisioned for an external identity) could not be told
// from that user by a resource server.
func clientNameClash(ctx context.Context, st store.Store, id string) (string, error) {
	if store.IsExternalUsername(id) {
		return fmt.Sprintf("must not start with %q: that prefix names users of external identity providers", store.ExternalUserPrefix), nil
	}
	switch _, err := st.GetUser(ctx, id); {
	case err == nil:
		return "a user has this name: a client's tokens carry its id as sub, so the two could not be told apart", nil
	case !errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("user %q: %w", id, err)
	}
	return "", nil
}

// userNameClash says why name may not name a new user, or "": it is a
// client's id (see clientNameClash).
func userNameClash(ctx context.Context, st store.Store, name string) (string, error) {
	switch _, err := st.GetClient(ctx, name); {
	case err == nil:
		return "a client has this id: a client's tokens carry its id as sub, so the two could not be told apart", nil
	case !errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("client %q: %w", name, err)
	}
	return "", nil
}
