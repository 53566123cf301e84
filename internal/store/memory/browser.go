package memory

import (
	"context"
	"slices"

	"github.com/tokengate/tokengate/internal/store"
)

func cloneCode(c store.AuthCode) store.AuthCode {
	c.Hash, c.Scopes = slices.Clone(c.Hash), slices.Clone(c.Scopes)
	return c
}

// CreateAuthCode implements store.AuthCodes.
func (s *Store) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.codes[string(c.Hash)]; ok {
		return conflict("create auth code")
	}
	s.codes[string(c.Hash)] = cloneCode(c)
	return nil
}

// GetAuthCode implements store.AuthCodes.
func (s *Store) GetAuthCode(ctx context.Context, hash []byte) (store.AuthCode, error) {
	if err := s.lock(ctx); err != nil {
		return store.AuthCode{}, err
	}
	defer s.mu.Unlock()
	c, ok := s.codes[string(hash)]
	if !ok {
		return store.AuthCode{}, notFound("get auth code")
	}
	return cloneCode(c), nil
}

// RedeemAuthCode implements store.AuthCodes.
func (s *Store) RedeemAuthCode(ctx context.Context, hash []byte) (store.AuthCode, error) {
	if err := s.lock(ctx); err != nil {
		return store.AuthCode{}, err
	}
	defer s.mu.Unlock()
	c, ok := s.codes[string(hash)]
	if !ok {
		return store.AuthCode{}, notFound("redeem auth code")
	}
	c.Redemptions++
	s.codes[string(hash)] = c
	return cloneCode(c), nil
}

// CreateWebSession implements store.WebSessions.
func (s *Store) CreateWebSession(ctx context.Context, w store.WebSession) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.users[w.Username]; !ok {
		return notFound("create web session: user")
	}
	if _, ok := s.sessions[string(w.IDHash)]; ok {
		return conflict("create web session")
	}
	w.IDHash = slices.Clone(w.IDHash)
	s.sessions[string(w.IDHash)] = w
	return nil
}

// GetWebSession implements store.WebSessions.
func (s *Store) GetWebSession(ctx context.Context, hash []byte) (store.WebSession, error) {
	if err := s.lock(ctx); err != nil {
		return store.WebSession{}, err
	}
	defer s.mu.Unlock()
	w, ok := s.sessions[string(hash)]
	if !ok {
		return store.WebSession{}, notFound("get web session")
	}
	w.IDHash = slices.Clone(w.IDHash)
	return w, nil
}

// DeleteWebSession implements store.WebSessions.
func (s *Store) DeleteWebSession(ctx context.Context, hash []byte) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.sessions, string(hash))
	return nil
}

// deleteUserSessions removes the sessions of username; s.mu is held.
func (s *Store) deleteUserSessions(username string) {
	for h, w := range s.sessions {
		if w.Username == username {
			delete(s.sessions, h)
		}
	}
}
