package memory

import (
	"testing"

	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestStorageFollowsSessionsNotRotations: after many rotations (see
// storetest.ScaleRotations) over 100 families the store holds 100 family
// records and no token record.
func TestStorageFollowsSessionsNotRotations(t *testing.T) {
	s := New()
	storetest.RotationScale(t, s, 100, storetest.ScaleRotations(), func() (int, int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.families), len(s.tokens)
	})
}
