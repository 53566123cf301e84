package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokengate/tokengate/internal/store"
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

// NewUser describes a user to create. An empty Password makes a user
// without password login (API keys or external identities only).
type NewUser struct {
	Username string
	Password string
	Scopes   []string
	Disabled bool
}

// Add creates a user with a password and the scopes it may be granted.
func (a *Users) Add(ctx context.Context, name, password string, scopes []string) error {
	_, err := a.Create(ctx, NewUser{Username: name, Password: password, Scopes: scopes})
	return err
}

// Create creates a user; the password, when given, is hashed by Hash
// (the server's bounded hashing queue) after the name is known free.
func (a *Users) Create(ctx context.Context, n NewUser) (store.User, error) {
	var f fields
	checkUsername(&f, "username", n.Username)
	if n.Password != "" {
		checkPassword(&f, "password", n.Password)
	}
	checkScopes(&f, "scopes", n.Scopes)
	if err := f.err(); err != nil {
		return store.User{}, err
	}
	if _, err := a.Store.GetUser(ctx, n.Username); err == nil {
		return store.User{}, fmt.Errorf("user %q: %w", n.Username, store.ErrConflict)
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("user %q: %w", n.Username, err)
	}
	if reason, err := userNameClash(ctx, a.Store, n.Username); err != nil {
		return store.User{}, err
	} else if reason != "" {
		f.add("username", "%s", reason)
		return store.User{}, f.err()
	}
	var hash string
	if n.Password != "" {
		var err error
		if hash, err = a.Hash(ctx, n.Password); err != nil {
			return store.User{}, fmt.Errorf("hashing password: %w", err)
		}
	}
	now := a.now()
	u := store.User{Username: n.Username, PasswordHash: hash, Scopes: n.Scopes, Disabled: n.Disabled, CreatedAt: now, UpdatedAt: now}
	if err := a.Store.CreateUser(ctx, u); err != nil {
		return store.User{}, fmt.Errorf("user %q: %w", n.Username, err)
	}
	return u, nil
}

// Get returns one user.
func (a *Users) Get(ctx context.Context, name string) (store.User, error) {
	u, err := a.Store.GetUser(ctx, name)
	if err != nil {
		return store.User{}, fmt.Errorf("user %q: %w", name, err)
	}
	return u, nil
}

// List returns every user, ordered by name.
func (a *Users) List(ctx context.Context) ([]store.User, error) {
	us, err := a.Store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	slices.SortFunc(us, func(x, y store.User) int { return cmpStr(x.Username, y.Username) })
	return us, nil
}

// Page returns at most limit users whose names sort after `after` (byte
// order), reading no more than that from the store.
func (a *Users) Page(ctx context.Context, after string, limit int) ([]store.User, error) {
	us, err := a.Store.ListUsersAfter(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	return us, nil
}

// SetScopes replaces the scopes a user may be granted. Tokens already
// issued keep their scopes until they expire or are refreshed.
func (a *Users) SetScopes(ctx context.Context, name string, scopes []string) error {
	var f fields
	checkScopes(&f, "scopes", scopes)
	if err := f.err(); err != nil {
		return err
	}
	u, err := a.Store.GetUser(ctx, name)
	if err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	u.Scopes, u.UpdatedAt = scopes, a.now()
	if err := a.Store.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("user %q: %w", name, err)
	}
	return nil
}

// SetPassword changes a user's password and, unless keepSessions, ends
// every session of the user (see EndSessions). It returns how many refresh
// families it revoked.
func (a *Users) SetPassword(ctx context.Context, name, password string, keepSessions bool) (int, error) {
	var f fields
	checkPassword(&f, "password", password)
	if err := f.err(); err != nil {
		return 0, err
	}
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
