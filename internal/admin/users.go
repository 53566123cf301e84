package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tokengate/internal/store"
)

// Users is the administration of users: the operations the CLI (and an
// admin API) call. Every operation that takes a user's access away ends
// the user's sessions at once: the user's not-before time moves to now
// (every token issued before is inactive at introspection, on every node)
// and every refresh family of the user is revoked.
type Users struct {
	Store store.Store
	// Hash turns a password into its stored argon2id form.
	Hash func(ctx context.Context, password string) (string, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (a *Users) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Add creates a user with a password and the scopes it may be granted.
func (a *Users) Add(ctx context.Context, name, password string, scopes []string) error {
	if _, err := a.Store.GetUser(ctx, name); err == nil {
		return fmt.Errorf("user %q: %w", name, store.ErrConflict)
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("user %q: %w", name, err)
	}
	hash, err := a.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("hashing password: %w", err)
	}
	now := a.now()
	if err := a.Store.CreateUser(ctx, store.User{Username: name, PasswordHash: hash, Scopes: scopes, CreatedAt: now, UpdatedAt: now}); err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	return nil
}

// SetPassword changes a user's password and, unless keepSessions, ends
// every session of the user (see EndSessions). It returns how many refresh
// families it revoked.
func (a *Users) SetPassword(ctx context.Context, name, password string, keepSessions bool) (int, error) {
	u, err := a.Store.GetUser(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("user %q: %w", name, err)
	}
	hash, err := a.Hash(ctx, password)
	if err != nil {
		return 0, fmt.Errorf("hashing password: %w", err)
	}
	u.PasswordHash, u.UpdatedAt = hash, a.now()
	if err := a.Store.UpdateUser(ctx, u); err != nil {
		return 0, fmt.Errorf("user %q: %w", name, err)
	}
	if keepSessions {
		return 0, nil
	}
	return a.EndSessions(ctx, name)
}

// SetDisabled disables or enables a user. Disabling ends every session of
// the user; enabling brings none back. It returns how many refresh
// families it revoked.
func (a *Users) SetDisabled(ctx context.Context, name string, disabled bool) (int, error) {
	u, err := a.Store.GetUser(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("user %q: %w", name, err)
	}
	u.Disabled, u.UpdatedAt = disabled, a.now()
	if err := a.Store.UpdateUser(ctx, u); err != nil {
		return 0, fmt.Errorf("user %q: %w", name, err)
	}
	if !disabled {
		return 0, nil
	}
	return a.EndSessions(ctx, name)
}

// Delete removes a user, its API keys and its sessions: its families are
// revoked, and its access tokens are inactive at introspection because
// the user no longer exists (or, re-created under the same name, was
// created after they were issued).
func (a *Users) Delete(ctx context.Context, name string) error {
	if err := a.Store.DeleteUser(ctx, name); err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	return nil
}

// EndSessions ends every session of a user now: tokens issued to the
// user before this moment are inactive at introspection and every refresh
// family of the user is revoked, in one store operation. It returns how
// many families it revoked.
func (a *Users) EndSessions(ctx context.Context, name string) (int, error) {
	n, err := a.Store.EndSessions(ctx, name, a.now())
	if err != nil {
		return 0, fmt.Errorf("user %q: %w", name, err)
	}
	return n, nil
}
