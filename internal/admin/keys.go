package admin

import (
	"context"
	"fmt"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/token"
)

// Keys is the administration of signing keys, shared by the CLI and the
// admin API.
type Keys struct {
	Manager *token.Manager
}

// List returns the signing keys after re-reading them from the store, so
// that a rotation on another node shows.
func (a *Keys) List(ctx context.Context) ([]token.KeyInfo, error) {
	if err := a.Manager.Reload(ctx); err != nil {
		return nil, fmt.Errorf("reading signing keys: %w", err)
	}
	return a.Manager.Keys(), nil
}

// Rotate makes a new active signing key; the previous one stays published
// until the tokens it signed expire.
func (a *Keys) Rotate(ctx context.Context) (store.SigningKey, error) {
	k, err := a.Manager.Rotate(ctx)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("rotating signing keys: %w", err)
	}
	return k, nil
}
