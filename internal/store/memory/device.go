package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

func cloneDevice(d store.DeviceAuthorization) store.DeviceAuthorization {
	d.DeviceCodeHash, d.UserCodeHash, d.Scopes = slices.Clone(d.DeviceCodeHash), slices.Clone(d.UserCodeHash), slices.Clone(d.Scopes)
	return d
}

// CreateDeviceAuthorization implements store.DeviceAuthorizations.
func (s *Store) CreateDeviceAuthorization(ctx context.Context, d store.DeviceAuthorization) error {
	if len(d.DeviceCodeHash) == 0 || len(d.UserCodeHash) == 0 {
		return errors.New("memory: create device authorization: empty code hash")
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.devices[string(d.DeviceCodeHash)]; ok {
		return conflict("create device authorization")
	}
	if dc, ok := s.deviceByUser[string(d.UserCodeHash)]; ok {
		old := s.devices[dc]
		if old.ExpiresAt.After(d.CreatedAt) {
			return conflict("create device authorization")
		}
		delete(s.devices, dc)
	}
	d = cloneDevice(d)
	d.Version = 0
	s.devices[string(d.DeviceCodeHash)] = d
	s.deviceByUser[string(d.UserCodeHash)] = string(d.DeviceCodeHash)
	return nil
}

// GetDeviceAuthorization implements store.DeviceAuthorizations.
func (s *Store) GetDeviceAuthorization(ctx context.Context, deviceCodeHash []byte) (store.DeviceAuthorization, error) {
	if err := s.lock(ctx); err != nil {
		return store.DeviceAuthorization{}, err
	}
	defer s.mu.Unlock()
	d, ok := s.devices[string(deviceCodeHash)]
	if !ok {
		return store.DeviceAuthorization{}, notFound("get device authorization")
	}
	return cloneDevice(d), nil
}

// GetDeviceAuthorizationByUserCode implements store.DeviceAuthorizations.
func (s *Store) GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeHash []byte) (store.DeviceAuthorization, error) {
	if err := s.lock(ctx); err != nil {
		return store.DeviceAuthorization{}, err
	}
	defer s.mu.Unlock()
	dc, ok := s.deviceByUser[string(userCodeHash)]
	if !ok {
		return store.DeviceAuthorization{}, notFound("get device authorization")
	}
	return cloneDevice(s.devices[dc]), nil
}

// UpdateDeviceAuthorization implements store.DeviceAuthorizations.
func (s *Store) UpdateDeviceAuthorization(ctx context.Context, d store.DeviceAuthorization, issue *store.NewFamily) error {
	if issue != nil && len(issue.Token.Hash) == 0 {
		return errors.New("memory: update device authorization: empty token hash")
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	cur, ok := s.devices[string(d.DeviceCodeHash)]
	if !ok {
		return notFound("update device authorization")
	}
	if cur.Version != d.Version {
		return fmt.Errorf("memory: update device authorization: %w", store.ErrStale)
	}
	if issue != nil {
		f, t := issue.Family, issue.Token
		if _, ok := s.families[f.ID]; ok {
			return conflict("update device authorization")
		}
		if _, ok := s.tokens[string(t.Hash)]; ok {
			return conflict("update device authorization")
		}
		if f.ExpiresAt.IsZero() {
			f.ExpiresAt = t.ExpiresAt
		}
		s.families[f.ID] = cloneFamily(f)
		t.Hash, t.FamilyID, t.Generation = slices.Clone(t.Hash), f.ID, f.Generation
		s.tokens[string(t.Hash)] = t
	}
	cur.Interval, cur.LastPollAt, cur.Status, cur.Username, cur.AuthTime = d.Interval, d.LastPollAt, d.Status, d.Username, d.AuthTime
	cur.Version++
	s.devices[string(d.DeviceCodeHash)] = cur
	return nil
}

// deleteExpiredDevices removes device authorizations expired at now; the
// caller holds mu.
func (s *Store) deleteExpiredDevices(now time.Time) int64 {
	var n int64
	for dc, d := range s.devices {
		if !d.ExpiresAt.After(now) {
			delete(s.devices, dc)
			if s.deviceByUser[string(d.UserCodeHash)] == dc {
				delete(s.deviceByUser, string(d.UserCodeHash))
			}
			n++
		}
	}
	return n
}
