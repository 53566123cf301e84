// Package memory is an in-memory store.Store: every record in maps behind
// one mutex, nothing on disk. It passes the same conformance suite as the
// SQL backends (internal/store/storetest) and serves tests of the core
// that need a store but not a database. It is never the production
// default: everything is lost when the process ends, and it is not shared
// between nodes.
package memory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

type attempt struct {
	count       int
	windowStart time.Time
	windowLen   time.Duration
	last        time.Time
}

// Store is an in-memory store.Store, safe for concurrent use. The zero
// value is not ready: use New.
type Store struct {
	mu        sync.Mutex
	closed    bool
	users     map[string]store.User
	clients   map[string]store.Client
	keys      map[string]store.APIKey // by id
	keyByHash map[string]string       // hash → id
	families  map[string]store.Family
	tokens    map[string]store.RefreshToken // by string(hash)
	deny      map[string]time.Time
	signing   []store.SigningKey
	attempts  map[string]*attempt
	links     map[linkKey]store.IdentityLink
	deleted   map[[2]string]bool          // tombstones: {kind, name}
	codes     map[string]store.AuthCode   // by string(hash)
	sessions  map[string]store.WebSession // by string(id hash)
	// devices holds device authorizations by string(device code hash);
	// deviceByUser maps a user code hash to its device code hash.
	devices      map[string]store.DeviceAuthorization
	deviceByUser map[string]string
	// clientsVer changes with every client write (ClientsVersion).
	clientsVer atomic.Uint64
}

// New returns an empty store.
func New() *Store {
	return &Store{
		users: map[string]store.User{}, clients: map[string]store.Client{},
		keys: map[string]store.APIKey{}, keyByHash: map[string]string{},
		families: map[string]store.Family{}, tokens: map[string]store.RefreshToken{},
		deny: map[string]time.Time{}, attempts: map[string]*attempt{},
		links: map[linkKey]store.IdentityLink{}, deleted: map[[2]string]bool{},
		devices: map[string]store.DeviceAuthorization{}, deviceByUser: map[string]string{},
		codes: map[string]store.AuthCode{}, sessions: map[string]store.WebSession{},
	}
}

var _ store.Store = (*Store)(nil)

var errClosed = fmt.Errorf("memory: store closed: %w", store.ErrUnavailable)

// lock takes the mutex unless the store is closed or ctx is done.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %w: %w", store.ErrUnavailable, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	return nil
}

func notFound(op string) error { return fmt.Errorf("memory: %s: %w", op, store.ErrNotFound) }
func conflict(op string) error { return fmt.Errorf("memory: %s: %w", op, store.ErrConflict) }

func cloneUser(u store.User) store.User {
	u.Scopes = slices.Clone(u.Scopes)
	return u
}

func cloneClient(c store.Client) store.Client {
	c.SecretHash = slices.Clone(c.SecretHash)
	c.Grants, c.Scopes, c.Resources = slices.Clone(c.Grants), slices.Clone(c.Scopes), slices.Clone(c.Resources)
	c.RedirectURIs, c.Origins = slices.Clone(c.RedirectURIs), slices.Clone(c.Origins)
	return c
}

func cloneKey(k store.APIKey) store.APIKey {
	k.Hash, k.Scopes = slices.Clone(k.Hash), slices.Clone(k.Scopes)
	return k
}

func cloneFamily(f store.Family) store.Family {
	f.Scopes, f.Extra = slices.Clone(f.Scopes), maps.Clone(f.Extra)
	f.Hash, f.PrevHash = slices.Clone(f.Hash), slices.Clone(f.PrevHash)
	f.SubjectActive = false
	return f
}

// CreateUser implements store.Users.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.users[u.Username]; ok {
		return conflict("create user")
	}
	u = cloneUser(u)
	u.NotBefore = time.Time{}
	s.users[u.Username] = u
	delete(s.deleted, [2]string{store.KindUser, u.Username})
	return nil
}

// GetUser implements store.Users.
func (s *Store) GetUser(ctx context.Context, username string) (store.User, error) {
	if err := s.lock(ctx); err != nil {
		return store.User{}, err
	}
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok {
		return store.User{}, notFound("get user")
	}
	return cloneUser(u), nil
}

// ListUsers implements store.Users, ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]store.User, 0, len(s.users))
	for _, name := range slices.Sorted(maps.Keys(s.users)) {
		out = append(out, cloneUser(s.users[name]))
	}
	return out, nil
}

// ListUsersAfter implements store.Users.
func (s *Store) ListUsersAfter(ctx context.Context, after string, limit int) ([]store.User, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return pageAfter(s.users, after, limit, func(store.User) bool { return true }, cloneUser), nil
}

// pageAfter returns clones of at most limit records of m that keep
// accepts, whose keys sort after `after`, in key order.
func pageAfter[T any](m map[string]T, after string, limit int, keep func(T) bool, clone func(T) T) []T {
	var out []T
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if len(out) >= limit {
			break
		}
		if k > after && keep(m[k]) {
			out = append(out, clone(m[k]))
		}
	}
	return out
}

// UpdateUser implements store.Users; the not-before time is kept.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	old, ok := s.users[u.Username]
	if !ok {
		return notFound("update user")
	}
	old.PasswordHash, old.Disabled, old.Scopes, old.UpdatedAt = u.PasswordHash, u.Disabled, slices.Clone(u.Scopes), u.UpdatedAt
	s.users[u.Username] = old
	return nil
}

// CreateUsers implements store.Users: all or none.
func (s *Store) CreateUsers(ctx context.Context, us []store.User) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(us))
	for _, u := range us {
		if _, ok := s.users[u.Username]; ok || seen[u.Username] {
			return conflict("create users")
		}
		seen[u.Username] = true
	}
	for _, u := range us {
		u = cloneUser(u)
		u.NotBefore = time.Time{}
		s.users[u.Username] = u
	}
	return nil
}

// ReplacePasswordHash implements store.Users.
func (s *Store) ReplacePasswordHash(ctx context.Context, username, oldHash, newHash string, at time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok {
		return notFound("replace password hash")
	}
	if u.PasswordHash != oldHash {
		return fmt.Errorf("memory: replace password hash: %w", store.ErrStale)
	}
	u.PasswordHash, u.UpdatedAt = newHash, at
	s.users[username] = u
	return nil
}

// DeleteUser implements store.Users.
func (s *Store) DeleteUser(ctx context.Context, username string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.users[username]; !ok {
		return notFound("delete user")
	}
	delete(s.users, username)
	s.deleted[[2]string{store.KindUser, username}] = true
	s.deleteLinksOf(username)
	s.deleteUserSessions(username)
	s.revokeWhere(func(f store.Family) bool { return f.Subject == username })
	s.deleteKeysWhere(func(k store.APIKey) bool { return k.Username == username })
	return nil
}

// CreateClient implements store.Clients.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return conflict("create client")
	}
	s.clients[c.ID] = cloneClient(c)
	delete(s.deleted, [2]string{store.KindClient, c.ID})
	s.clientsVer.Add(1)
	return nil
}

// CreateClients implements store.Clients: all or none.
func (s *Store) CreateClients(ctx context.Context, cs []store.Client) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		if _, ok := s.clients[c.ID]; ok || seen[c.ID] {
			return conflict("create clients")
		}
		seen[c.ID] = true
	}
	for _, c := range cs {
		s.clients[c.ID] = cloneClient(c)
		delete(s.deleted, [2]string{store.KindClient, c.ID})
	}
	s.clientsVer.Add(1)
	return nil
}

// UpgradeClientSecret implements store.Clients.
func (s *Store) UpgradeClientSecret(ctx context.Context, id, oldLegacy string, newHash []byte) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return notFound("upgrade client secret")
	}
	if c.LegacySecretHash == "" || c.LegacySecretHash != oldLegacy || len(c.SecretHash) > 0 {
		return fmt.Errorf("memory: upgrade client secret: %w", store.ErrStale)
	}
	c.SecretHash, c.LegacySecretHash = slices.Clone(newHash), ""
	s.clients[id] = c
	s.clientsVer.Add(1)
	return nil
}

// UpdateClient implements store.Clients.
func (s *Store) UpdateClient(ctx context.Context, c store.Client) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	old, ok := s.clients[c.ID]
	if !ok {
		return notFound("update client")
	}
	c.CreatedAt = old.CreatedAt
	s.clients[c.ID] = cloneClient(c)
	s.clientsVer.Add(1)
	return nil
}

// GetClient implements store.Clients.
func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	if err := s.lock(ctx); err != nil {
		return store.Client{}, err
	}
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return store.Client{}, notFound("get client")
	}
	return cloneClient(c), nil
}

// ClientsVersion implements store.Clients: the store is in this process
// only, so the version changes with every client write here.
func (s *Store) ClientsVersion(context.Context) (uint64, bool) {
	return s.clientsVer.Load(), true
}

// ListClients implements store.Clients, ordered by id.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]store.Client, 0, len(s.clients))
	for _, id := range slices.Sorted(maps.Keys(s.clients)) {
		out = append(out, cloneClient(s.clients[id]))
	}
	return out, nil
}

// ListClientsAfter implements store.Clients.
func (s *Store) ListClientsAfter(ctx context.Context, after string, limit int) ([]store.Client, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return pageAfter(s.clients, after, limit, func(store.Client) bool { return true }, cloneClient), nil
}

// DeleteClient implements store.Clients.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.clients[id]; !ok {
		return notFound("delete client")
	}
	delete(s.clients, id)
	s.clientsVer.Add(1)
	s.deleted[[2]string{store.KindClient, id}] = true
	s.revokeWhere(func(f store.Family) bool { return f.ClientID == id })
	s.deleteKeysWhere(func(k store.APIKey) bool { return k.ClientID == id })
	return nil
}

func (s *Store) deleteKeysWhere(match func(store.APIKey) bool) {
	for id, k := range s.keys {
		if match(k) {
			delete(s.keys, id)
			delete(s.keyByHash, string(k.Hash))
		}
	}
}

// CreateAPIKey implements store.APIKeys.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return conflict("create API key")
	}
	if _, ok := s.keyByHash[string(k.Hash)]; ok {
		return conflict("create API key")
	}
	s.keys[k.ID] = cloneKey(k)
	s.keyByHash[string(k.Hash)] = k.ID
	return nil
}

// GetAPIKeyByHash implements store.APIKeys.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (store.APIKey, error) {
	if err := s.lock(ctx); err != nil {
		return store.APIKey{}, err
	}
	defer s.mu.Unlock()
	id, ok := s.keyByHash[string(hash)]
	if !ok {
		return store.APIKey{}, notFound("get API key")
	}
	return cloneKey(s.keys[id]), nil
}

// ListAPIKeys implements store.APIKeys, ordered by id.
func (s *Store) ListAPIKeys(ctx context.Context) ([]store.APIKey, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]store.APIKey, 0, len(s.keys))
	for _, id := range slices.Sorted(maps.Keys(s.keys)) {
		out = append(out, cloneKey(s.keys[id]))
	}
	return out, nil
}

// ListAPIKeysAfter implements store.APIKeys.
func (s *Store) ListAPIKeysAfter(ctx context.Context, username, after string, limit int) ([]store.APIKey, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return pageAfter(s.keys, after, limit, func(k store.APIKey) bool { return username == "" || k.Username == username }, cloneKey), nil
}

// RevokeAPIKey implements store.APIKeys.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.updateKey(ctx, "revoke API key", id, func(k *store.APIKey) { k.RevokedAt = at })
}

// TouchAPIKey implements store.APIKeys.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.updateKey(ctx, "touch API key", id, func(k *store.APIKey) { k.LastUsedAt = at })
}

func (s *Store) updateKey(ctx context.Context, op, id string, fn func(*store.APIKey)) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return notFound(op)
	}
	fn(&k)
	s.keys[id] = k
	return nil
}

// CreateFamily implements store.Refresh.
func (s *Store) CreateFamily(ctx context.Context, f store.Family, t store.RefreshToken) error {
	if len(t.Hash) == 0 {
		return errors.New("memory: create family: empty token hash")
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.families[f.ID]; ok {
		return conflict("create family")
	}
	if f.ExpiresAt.IsZero() {
		f.ExpiresAt = t.ExpiresAt
	}
	f = cloneFamily(f)
	f.Hash, f.PrevHash = slices.Clone(t.Hash), nil
	s.families[f.ID] = f
	return nil
}

// GetFamily implements store.Refresh.
func (s *Store) GetFamily(ctx context.Context, id string) (store.Family, error) {
	if err := s.lock(ctx); err != nil {
		return store.Family{}, err
	}
	defer s.mu.Unlock()
	f, ok := s.families[id]
	if !ok {
		return store.Family{}, notFound("get family")
	}
	f = cloneFamily(f)
	u, ok := s.users[f.Subject]
	f.SubjectActive = ok && !u.Disabled
	return f, nil
}

// PutLegacyRefreshToken stores a token row of the form issued before
// migration 0011 of the SQL stores (which a memory store never held), for
// tests of the path that reads such tokens. It is not part of store.Store.
func (s *Store) PutLegacyRefreshToken(t store.RefreshToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Hash = slices.Clone(t.Hash)
	s.tokens[string(t.Hash)] = t
}

// GetRefresh implements store.Refresh; only PutLegacyRefreshToken makes
// tokens it finds.
func (s *Store) GetRefresh(ctx context.Context, hash []byte) (store.RefreshToken, store.Family, error) {
	if err := s.lock(ctx); err != nil {
		return store.RefreshToken{}, store.Family{}, err
	}
	defer s.mu.Unlock()
	t, ok := s.tokens[string(hash)]
	if !ok {
		return store.RefreshToken{}, store.Family{}, notFound("get refresh token")
	}
	f, ok := s.families[t.FamilyID]
	if !ok {
		return store.RefreshToken{}, store.Family{}, notFound("get refresh token")
	}
	f = cloneFamily(f)
	u, ok := s.users[f.Subject]
	f.SubjectActive = ok && !u.Disabled
	t.Hash = slices.Clone(t.Hash)
	return t, f, nil
}

// AdvanceFamily implements store.Refresh: the compare-and-set on the
// family's generation and the move of its token hashes, under the one
// mutex.
func (s *Store) AdvanceFamily(ctx context.Context, a store.Advance) error {
	if len(a.NewHash) == 0 {
		return errors.New("memory: advance family: empty new token hash")
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	f, ok := s.families[a.FamilyID]
	if !ok || f.Revoked || f.Generation != a.Generation {
		return fmt.Errorf("memory: advance family: %w", store.ErrStale)
	}
	f.Generation++
	f.RotatedAt, f.ExpiresAt = a.Now, a.ExpiresAt
	f.PrevHash, f.Hash = f.Hash, slices.Clone(a.NewHash)
	s.families[f.ID] = f
	return nil
}

// RevokeFamily implements store.Refresh.
func (s *Store) RevokeFamily(ctx context.Context, familyID string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	f, ok := s.families[familyID]
	if !ok {
		return notFound("revoke family")
	}
	f.Revoked = true
	s.families[familyID] = f
	return nil
}

// revokeWhere revokes the live families that match and counts them.
func (s *Store) revokeWhere(match func(store.Family) bool) int {
	n := 0
	for id, f := range s.families {
		if !f.Revoked && match(f) {
			f.Revoked = true
			s.families[id] = f
			n++
		}
	}
	return n
}

// RevokeSubjectFamilies implements store.Refresh.
func (s *Store) RevokeSubjectFamilies(ctx context.Context, subject string) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return s.revokeWhere(func(f store.Family) bool { return f.Subject == subject }), nil
}

// EndSessions implements store.Refresh.
func (s *Store) EndSessions(ctx context.Context, username string, at time.Time) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	u, ok := s.users[username]
	if !ok {
		return 0, notFound("end sessions")
	}
	u.NotBefore = at
	s.users[username] = u
	return s.revokeWhere(func(f store.Family) bool { return f.Subject == username }), nil
}

// AccessState implements store.Refresh.
func (s *Store) AccessState(ctx context.Context, q store.AccessQuery) (store.AccessState, error) {
	if err := s.lock(ctx); err != nil {
		return store.AccessState{}, err
	}
	defer s.mu.Unlock()
	var st store.AccessState
	_, st.Denied = s.deny[q.JTI]
	if q.FamilyID != "" {
		f, ok := s.families[q.FamilyID]
		st.FamilyRevoked = !ok || f.Revoked
	}
	if u, ok := s.users[q.Subject]; ok {
		st.UserExists, st.UserDisabled, st.UserCreatedAt, st.UserNotBefore = true, u.Disabled, u.CreatedAt, u.NotBefore
	}
	_, st.ClientExists = s.clients[q.Subject]
	if c, ok := s.clients[q.ClientID]; ok {
		st.TokenClientExists, st.TokenClientCreatedAt = true, c.CreatedAt
	}
	for _, k := range s.signing {
		if k.ID == q.KeyID {
			st.KeyRevoked = !k.RevokedAt.IsZero()
		}
	}
	return st, nil
}

// DenyAccessToken implements store.Denylist.
func (s *Store) DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.deny[jti]; !ok {
		s.deny[jti] = expiresAt
	}
	return nil
}

// IsAccessTokenDenied implements store.Denylist.
func (s *Store) IsAccessTokenDenied(ctx context.Context, jti string) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	_, ok := s.deny[jti]
	return ok, nil
}

// ListSigningKeys implements store.Keys, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]store.SigningKey, 0, len(s.signing))
	for _, k := range s.signing {
		k.Private = slices.Clone(k.Private)
		out = append(out, k)
	}
	slices.SortStableFunc(out, func(a, b store.SigningKey) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}

// AddSigningKey implements store.Keys.
func (s *Store) AddSigningKey(ctx context.Context, k store.SigningKey, expectActive string, retireUntil time.Time) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	active := -1
	for i, old := range s.signing {
		if old.ID == k.ID {
			return conflict("add signing key")
		}
		if old.RetiredAt.IsZero() && old.Purpose == k.Purpose {
			active = i
		}
	}
	switch {
	case active < 0 && expectActive != "":
		return conflict("add signing key")
	case active >= 0 && s.signing[active].ID != expectActive:
		return conflict("add signing key")
	}
	if active >= 0 {
		s.signing[active].RetiredAt, s.signing[active].ExpiresAt = k.CreatedAt, retireUntil
	}
	k.Private, k.RetiredAt, k.ExpiresAt = slices.Clone(k.Private), time.Time{}, time.Time{}
	s.signing = append(s.signing, k)
	return nil
}

// RevokeSigningKey implements store.Keys: a retired key is marked
// revoked once (a repeat keeps the first time); the active key is
// ErrConflict.
func (s *Store) RevokeSigningKey(ctx context.Context, kid string, at time.Time) error {
	if at.IsZero() {
		return errors.New("memory: revoke signing key: zero time")
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for i, k := range s.signing {
		if k.ID != kid {
			continue
		}
		if k.RetiredAt.IsZero() {
			return fmt.Errorf("memory: key %s is the active key: %w", kid, store.ErrConflict)
		}
		if k.RevokedAt.IsZero() {
			s.signing[i].RevokedAt = at
		}
		return nil
	}
	return notFound("revoke signing key")
}

// SigningKeyRevoked implements store.Keys.
func (s *Store) SigningKeyRevoked(ctx context.Context, kid string) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	for _, k := range s.signing {
		if k.ID == kid {
			return !k.RevokedAt.IsZero(), nil
		}
	}
	return false, nil
}

// RecordFailure implements store.Attempts.
func (s *Store) RecordFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return s.count(key, now, window), nil
}

// count adds one attempt to key's fixed window (starting a new window
// when the current one has passed) and returns the count.
func (s *Store) count(key string, now time.Time, window time.Duration) int {
	a, ok := s.attempts[key]
	if !ok || now.Sub(a.windowStart) >= window {
		a = &attempt{windowStart: now}
		s.attempts[key] = a
	}
	a.count++
	a.windowLen, a.last = window, now
	return a.count
}

// Failures implements store.Attempts.
func (s *Store) Failures(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	if err := s.lock(ctx); err != nil {
		return 0, time.Time{}, err
	}
	defer s.mu.Unlock()
	a, ok := s.attempts[key]
	if !ok {
		return 0, time.Time{}, nil
	}
	if now.Sub(a.windowStart) >= window {
		return 0, a.last, nil
	}
	return a.count, a.last, nil
}

// ResetFailures implements store.Attempts.
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.attempts, key)
	return nil
}

// ReserveAttempt implements store.Attempts.
func (s *Store) ReserveAttempt(ctx context.Context, key string, now time.Time, window time.Duration, limit int, since time.Time) (int, bool, error) {
	if err := s.lock(ctx); err != nil {
		return 0, false, err
	}
	defer s.mu.Unlock()
	if a, ok := s.attempts[key]; ok && now.Sub(a.windowStart) < window && a.count >= limit && a.last.After(since) {
		return a.count, false, nil
	}
	return s.count(key, now, window), true, nil
}

// ReleaseAttempt implements store.Attempts.
func (s *Store) ReleaseAttempt(ctx context.Context, key string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if a, ok := s.attempts[key]; ok && a.count > 0 {
		a.count--
	}
	return nil
}

// DeleteExpired implements store.Store: expired families with all their
// tokens, expired tokens, denylist entries, retired keys and stale
// counters.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	var n int64
	for id, f := range s.families {
		if !f.ExpiresAt.After(now) {
			delete(s.families, id)
			n++
		}
	}
	for h, t := range s.tokens {
		if _, ok := s.families[t.FamilyID]; !ok || !t.ExpiresAt.After(now) {
			delete(s.tokens, h)
			n++
		}
	}
	for jti, exp := range s.deny {
		if !exp.After(now) {
			delete(s.deny, jti)
			n++
		}
	}
	kept := s.signing[:0]
	for _, k := range s.signing {
		if !k.ExpiresAt.IsZero() && !k.ExpiresAt.After(now) {
			n++
			continue
		}
		kept = append(kept, k)
	}
	s.signing = kept
	for key, a := range s.attempts {
		if !a.windowStart.Add(a.windowLen).After(now) {
			delete(s.attempts, key)
			n++
		}
	}
	n += s.deleteExpiredDevices(now)
	for h, c := range s.codes {
		if !c.PurgeAt.After(now) {
			delete(s.codes, h)
			n++
		}
	}
	for h, w := range s.sessions {
		if !w.ExpiresAt.After(now) {
			delete(s.sessions, h)
			n++
		}
	}
	return n, nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// Deleted implements store.Tombstones.
func (s *Store) Deleted(ctx context.Context, kind, name string) (bool, error) {
	if err := s.lock(ctx); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	return s.deleted[[2]string{kind, name}], nil
}

// ProbeWrite implements store.Store: a memory store can always write
// while it is open.
func (s *Store) ProbeWrite(ctx context.Context) error { return s.Ping(ctx) }

// Close implements store.Store; later calls answer ErrUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
