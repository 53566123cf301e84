package memory

import (
	"context"

	"github.com/tokengate/tokengate/internal/store"
)

type linkKey struct{ issuer, subject string }

// GetIdentityLink implements store.Identities.
func (s *Store) GetIdentityLink(ctx context.Context, issuer, subject string) (store.IdentityLink, error) {
	if err := s.lock(ctx); err != nil {
		return store.IdentityLink{}, err
	}
	defer s.mu.Unlock()
	l, ok := s.links[linkKey{issuer, subject}]
	if !ok {
		return store.IdentityLink{}, notFound("get identity link")
	}
	return l, nil
}

// ProvisionIdentity implements store.Identities: the user and its link
// are created together or not at all.
func (s *Store) ProvisionIdentity(ctx context.Context, u store.User, l store.IdentityLink) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	k := linkKey{l.Issuer, l.Subject}
	if _, ok := s.links[k]; ok {
		return conflict("provision identity")
	}
	if _, ok := s.users[u.Username]; ok {
		return conflict("provision identity")
	}
	u = cloneUser(u)
	s.users[u.Username] = u
	l.Username = u.Username
	s.links[k] = l
	return nil
}

// deleteLinksOf removes the links of a deleted user; the caller holds mu.
func (s *Store) deleteLinksOf(username string) {
	for k, l := range s.links {
		if l.Username == username {
			delete(s.links, k)
		}
	}
}
