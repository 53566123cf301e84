// Package storetest is the conformance suite every store.Store backend
// must pass, in the manner of dex's storage/conformance. A backend's test
// calls Run with a constructor of fresh, empty stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// The suite uses fixed times (in the year 2100, so that a backend that
// consults the wall clock never sees test records as expired) with whole
// millisecond precision, which every backend is expected to preserve.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/store"
)

// Run runs every conformance test as a subtest. newStore must return a
// fresh, empty store for each call and arrange for it to be closed (for
// example with t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Users", testUsers},
		{"DeleteUserRevokesFamilies", testDeleteUserRevokesFamilies},
		{"CreateUsers", testCreateUsers},
		{"ReplacePasswordHash", testReplacePasswordHash},
		{"ReplacePasswordHashConcurrent", testReplacePasswordHashConcurrent},
		{"ListPages", testListPages},
		{"Clients", testClients},
		{"DeleteClientRevokesFamilies", testDeleteClientRevokesFamilies},
		{"CreateClients", testCreateClients},
		{"UpgradeClientSecret", testUpgradeClientSecret},
		{"UpgradeClientSecretConcurrent", testUpgradeClientSecretConcurrent},
		{"ClientsVersion", testClientsVersion},
		{"APIKeys", testAPIKeys},
		{"RefreshRotation", testRefreshRotation},
		{"RefreshSubjectActive", testRefreshSubjectActive},
		{"RefreshReuseRevokesFamily", testRefreshReuse},
		{"RefreshExpired", testRefreshExpired},
		{"RefreshUnknown", testRefreshUnknown},
		{"RevokeFamily", testRevokeFamily},
		{"RevokeSubjectFamilies", testRevokeSubjectFamilies},
		{"ReuseIntervalGrace", testReuseIntervalGrace},
		{"ReuseIntervalElapsed", testReuseIntervalElapsed},
		{"ReuseIntervalAncestor", testReuseIntervalAncestor},
		{"ConcurrentRotation", testConcurrentRotation},
		{"AdvanceFamilyCompareAndSet", testAdvanceFamilyCAS},
		{"EndSessions", testEndSessions},
		{"AccessState", testAccessState},
		{"ReserveAttempt", testReserveAttempt},
		{"ReserveAttemptConcurrent", testReserveAttemptConcurrent},
		{"Denylist", testDenylist},
		{"SigningKeys", testSigningKeys},
		{"SigningKeyPurposes", testSigningKeyPurposes},
		{"Attempts", testAttempts},
		{"DeleteExpired", testDeleteExpired},
		{"Ping", testPing},
		{"IdentityLinks", testIdentityLinks},
		{"ConcurrentProvision", testConcurrentProvision},
		{"Tombstones", testTombstones},
		{"ProbeWrite", testProbeWrite},
		{"DeviceAuthorizations", testDeviceAuthorizations},
		{"DeviceUpdateCompareAndSet", testDeviceUpdateCompareAndSet},
		{"DeviceConcurrentRedeem", testDeviceConcurrentRedeem},
		{"DeviceDeleteExpired", testDeviceDeleteExpired},
		{"AuthCodes", testAuthCodes},
		{"AuthCodeConcurrentRedemption", testAuthCodeConcurrentRedemption},
		{"WebSessions", testWebSessions},
		{"DeleteExpiredBrowser", testDeleteExpiredBrowser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &tracked{Store: newStore(t)})
		})
	}
}

// tracked is a store under test with what its tokens state: a refresh
// token names its family and generation itself (under a MAC), so the
// suite, which works with token names, remembers them here as the core
// would read them from the token.
type tracked struct {
	store.Store
	mu     sync.Mutex
	issued map[string]issued // by token name
}

// issued is what a token of the suite states.
type issued struct {
	family  string
	gen     int64
	expires time.Time
}

// put records that the token named name states family, gen and expires.
func (s *tracked) put(name, family string, gen int64, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.issued == nil {
		s.issued = map[string]issued{}
	}
	s.issued[name] = issued{family, gen, expires}
}

// get returns what the token named name states; ok is false for a name
// never issued.
func (s *tracked) get(name string) (issued, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.issued[name]
	return i, ok
}

// track returns the suite's view of s (every test's store is tracked).
func track(s store.Store) *tracked {
	return s.(*tracked)
}

// baseUnix is 2100-01-01T00:00:00Z, the origin of every time in the suite.
const baseUnix = 4102444800

// at returns the suite's base time plus d.
func at(d time.Duration) time.Time {
	return time.Unix(baseUnix, 0).UTC().Add(d)
}

// hash stands in for the SHA-256 of a secret.
func hash(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func ctx(t *testing.T) context.Context {
	return t.Context()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func checkUser(t *testing.T, got, want store.User) {
	t.Helper()
	if got.Username != want.Username || got.PasswordHash != want.PasswordHash || got.Disabled != want.Disabled ||
		!slices.Equal(got.Scopes, want.Scopes) || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("user:\n got %+v\nwant %+v", got, want)
	}
}

func checkClient(t *testing.T, got, want store.Client) {
	t.Helper()
	if got.ID != want.ID || !slices.Equal(got.SecretHash, want.SecretHash) || got.Public != want.Public ||
		!slices.Equal(got.Grants, want.Grants) || !slices.Equal(got.Scopes, want.Scopes) ||
		got.AccessTokenTTL != want.AccessTokenTTL || got.RefreshTokenTTL != want.RefreshTokenTTL ||
		got.RefreshReuseInterval != want.RefreshReuseInterval || !got.CreatedAt.Equal(want.CreatedAt) ||
		got.NoIntrospect != want.NoIntrospect || !slices.Equal(got.Resources, want.Resources) ||
		!slices.Equal(got.RedirectURIs, want.RedirectURIs) || got.ThirdParty != want.ThirdParty || !slices.Equal(got.Origins, want.Origins) ||
		got.LegacySecretHash != want.LegacySecretHash {
		t.Errorf("client:\n got %+v\nwant %+v", got, want)
	}
}

func checkAPIKey(t *testing.T, got, want store.APIKey) {
	t.Helper()
	if got.ID != want.ID || !slices.Equal(got.Hash, want.Hash) || got.Name != want.Name ||
		got.Username != want.Username || got.ClientID != want.ClientID || got.Prefix != want.Prefix ||
		got.Last4 != want.Last4 || !slices.Equal(got.Scopes, want.Scopes) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		!got.LastUsedAt.Equal(want.LastUsedAt) || !got.RevokedAt.Equal(want.RevokedAt) {
		t.Errorf("api key:\n got %+v\nwant %+v", got, want)
	}
}

func checkFamily(t *testing.T, got, want store.Family) {
	t.Helper()
	if got.ID != want.ID || got.Subject != want.Subject || got.ClientID != want.ClientID ||
		!slices.Equal(got.Scopes, want.Scopes) || !got.AuthTime.Equal(want.AuthTime) ||
		got.Generation != want.Generation || !got.RotatedAt.Equal(want.RotatedAt) ||
		got.Revoked != want.Revoked || !got.ExpiresAt.Equal(want.ExpiresAt) || !maps.Equal(got.Extra, want.Extra) ||
		got.Rotation != want.Rotation || got.Format != want.Format ||
		!slices.Equal(got.Hash, want.Hash) || !slices.Equal(got.PrevHash, want.PrevHash) {
		t.Errorf("family:\n got %+v\nwant %+v", got, want)
	}
}

func checkToken(t *testing.T, got, want store.RefreshToken) {
	t.Helper()
	if !slices.Equal(got.Hash, want.Hash) || got.FamilyID != want.FamilyID || got.Generation != want.Generation ||
		!got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("refresh token:\n got %+v\nwant %+v", got, want)
	}
}

func checkSigningKey(t *testing.T, got, want store.SigningKey) {
	t.Helper()
	if got.ID != want.ID || got.Algorithm != want.Algorithm || got.Purpose != want.Purpose || !slices.Equal(got.Private, want.Private) ||
		got.Encrypted != want.Encrypted || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.RetiredAt.Equal(want.RetiredAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || !got.RevokedAt.Equal(want.RevokedAt) {
		t.Errorf("signing key:\n got %+v\nwant %+v", got, want)
	}
}

// newFamily stores a family for subject and client with its first token,
// issued at issued and valid for ttl, and returns both as stored.
func newFamily(t *testing.T, s store.Store, id, subject, clientID, token string, issued time.Time, ttl time.Duration) (store.Family, store.RefreshToken) {
	t.Helper()
	f := store.Family{
		ID:        id,
		Subject:   subject,
		ClientID:  clientID,
		Scopes:    []string{"openid", "profile"},
		AuthTime:  issued,
		ExpiresAt: issued.Add(ttl),
	}
	tok := store.RefreshToken{Hash: hash(token), FamilyID: id, IssuedAt: issued, ExpiresAt: issued.Add(ttl)}
	must(t, s.CreateFamily(ctx(t), f, tok))
	track(s).put(token, id, 0, issued.Add(ttl))
	return f, tok
}

// familyOf returns the family of the token named token.
func familyOf(t *testing.T, s store.Store, token string) store.Family {
	t.Helper()
	i, ok := track(s).get(token)
	if !ok {
		t.Fatalf("token %s was never issued", token)
	}
	f, err := s.GetFamily(ctx(t), i.family)
	must(t, err)
	return f
}

// Outcomes of rotate other than success and store errors.
var (
	errReused  = errors.New("reused: family revoked")
	errRevoked = errors.New("family revoked")
	errExpired = errors.New("token expired")
	errForged  = errors.New("token never issued")
)

// rotate rotates the token named old into one named next at now, with a
// one-hour expiry and the given reuse interval, as the core does: the
// store loads, oauth.DecideRefresh decides, the store persists with a
// compare-and-set (deciding again when it lost). It returns the family as
// stored after the rotation.
func rotate(t *testing.T, s store.Store, old, next string, now time.Time, reuse time.Duration) (store.Family, error) {
	t.Helper()
	return rotateCtx(ctx(t), s, old, next, now, reuse)
}

func rotateCtx(c context.Context, s store.Store, old, next string, now time.Time, reuse time.Duration) (store.Family, error) {
	i, ok := track(s).get(old)
	if !ok {
		return store.Family{}, store.ErrNotFound // a token never issued: its MAC would not verify
	}
	tok := store.RefreshToken{Hash: hash(old), FamilyID: i.family, Generation: i.gen, ExpiresAt: i.expires}
	for range 5 {
		fam, err := s.GetFamily(c, i.family)
		if err != nil {
			return store.Family{}, err
		}
		fam.SubjectActive = true // the subject's state is not what these tests are about
		switch out := oauth.DecideRefresh(oauth.RefreshInput{Token: tok, Family: fam, ClientID: fam.ClientID, ReuseInterval: reuse, Rotate: true, Now: now}); out {
		case oauth.RefreshRotate, oauth.RefreshGraceRotate:
		case oauth.RefreshRevoked:
			return store.Family{}, errRevoked
		case oauth.RefreshExpired:
			return store.Family{}, errExpired
		case oauth.RefreshReuse:
			if err := s.RevokeFamily(c, fam.ID); err != nil {
				return store.Family{}, err
			}
			return store.Family{}, errReused
		case oauth.RefreshForged, oauth.RefreshAhead:
			return store.Family{}, errForged
		default:
			return store.Family{}, fmt.Errorf("unexpected outcome %v", out)
		}
		err = s.AdvanceFamily(c, store.Advance{FamilyID: fam.ID, Generation: fam.Generation, NewHash: hash(next), Now: now, ExpiresAt: now.Add(time.Hour)})
		if errors.Is(err, store.ErrStale) {
			continue
		}
		if err != nil {
			return store.Family{}, err
		}
		track(s).put(next, fam.ID, fam.Generation+1, now.Add(time.Hour))
		f, err := s.GetFamily(c, fam.ID)
		f.SubjectActive = false
		return f, err
	}
	return store.Family{}, errors.New("compare-and-set lost five times")
}

func testPing(t *testing.T, s store.Store) {
	must(t, s.Ping(ctx(t)))
}
