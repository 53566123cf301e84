package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

func newDevice(name string, created time.Time) store.DeviceAuthorization {
	return store.DeviceAuthorization{
		DeviceCodeHash: hash("device-" + name), UserCodeHash: hash("user-" + name),
		ClientID: "tv", Scopes: []string{"read", "write"}, CreatedAt: created, ExpiresAt: created.Add(10 * time.Minute),
		Interval: 5 * time.Second, Status: store.DevicePending,
	}
}

func checkDevice(t *testing.T, got, want store.DeviceAuthorization) {
	t.Helper()
	if !slices.Equal(got.DeviceCodeHash, want.DeviceCodeHash) || !slices.Equal(got.UserCodeHash, want.UserCodeHash) ||
		got.ClientID != want.ClientID || !slices.Equal(got.Scopes, want.Scopes) || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || got.Interval != want.Interval || !got.LastPollAt.Equal(want.LastPollAt) ||
		got.Status != want.Status || got.Username != want.Username || !got.AuthTime.Equal(want.AuthTime) || got.Version != want.Version {
		t.Errorf("device authorization:\n got %+v\nwant %+v", got, want)
	}
}

// testDeviceAuthorizations: records round-trip by either code; codes are
// unique (a user code only among live authorizations).
func testDeviceAuthorizations(t *testing.T, s store.Store) {
	d := newDevice("a", at(0))
	must(t, s.CreateDeviceAuthorization(ctx(t), d))
	got, err := s.GetDeviceAuthorization(ctx(t), d.DeviceCodeHash)
	must(t, err)
	checkDevice(t, got, d)
	got, err = s.GetDeviceAuthorizationByUserCode(ctx(t), d.UserCodeHash)
	must(t, err)
	checkDevice(t, got, d)
	_, err = s.GetDeviceAuthorization(ctx(t), hash("nope"))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetDeviceAuthorizationByUserCode(ctx(t), hash("nope"))
	wantErr(t, err, store.ErrNotFound)

	dup := newDevice("b", at(time.Minute))
	dup.DeviceCodeHash = d.DeviceCodeHash
	wantErr(t, s.CreateDeviceAuthorization(ctx(t), dup), store.ErrConflict)
	live := newDevice("c", at(time.Minute))
	live.UserCodeHash = d.UserCodeHash
	wantErr(t, s.CreateDeviceAuthorization(ctx(t), live), store.ErrConflict)

	// Once d has expired, its user code may be given out again.
	later := newDevice("d", d.ExpiresAt)
	later.UserCodeHash = d.UserCodeHash
	must(t, s.CreateDeviceAuthorization(ctx(t), later))
	got, err = s.GetDeviceAuthorizationByUserCode(ctx(t), d.UserCodeHash)
	must(t, err)
	checkDevice(t, got, later)
	_, err = s.GetDeviceAuthorization(ctx(t), d.DeviceCodeHash)
	wantErr(t, err, store.ErrNotFound)
}

// testDeviceUpdateCompareAndSet: an update applies only at the version
// read; a redemption creates its family with it, or nothing.
func testDeviceUpdateCompareAndSet(t *testing.T, s store.Store) {
	d := newDevice("a", at(0))
	must(t, s.CreateDeviceAuthorization(ctx(t), d))
	poll := d
	poll.LastPollAt, poll.Interval = at(time.Second), 10*time.Second
	must(t, s.UpdateDeviceAuthorization(ctx(t), poll, nil))
	wantErr(t, s.UpdateDeviceAuthorization(ctx(t), poll, nil), store.ErrStale)

	approved := poll
	approved.Version = 1
	approved.Status, approved.Username, approved.AuthTime = store.DeviceApproved, "alice", at(-time.Hour)
	must(t, s.UpdateDeviceAuthorization(ctx(t), approved, nil))
	got, err := s.GetDeviceAuthorization(ctx(t), d.DeviceCodeHash)
	must(t, err)
	approved.Version = 2
	checkDevice(t, got, approved)

	// A redemption at a stale version creates no family.
	stale := got
	stale.Version = 1
	stale.Status = store.DeviceRedeemed
	fam := store.NewFamily{
		Family: store.Family{ID: "fam-stale", Subject: "alice", ClientID: "tv", Scopes: []string{"read"}, AuthTime: at(-time.Hour), ExpiresAt: at(time.Hour)},
		Token:  store.RefreshToken{Hash: hash("rt-stale"), IssuedAt: at(2 * time.Second), ExpiresAt: at(time.Hour)},
	}
	wantErr(t, s.UpdateDeviceAuthorization(ctx(t), stale, &fam), store.ErrStale)
	_, _, err = s.GetRefresh(ctx(t), hash("rt-stale"))
	wantErr(t, err, store.ErrNotFound)

	redeemed := got
	redeemed.Status = store.DeviceRedeemed
	fam.Family.ID, fam.Token.Hash = "fam-1", hash("rt-1")
	must(t, s.UpdateDeviceAuthorization(ctx(t), redeemed, &fam))
	tok, f, err := s.GetRefresh(ctx(t), hash("rt-1"))
	must(t, err)
	if f.ID != "fam-1" || f.Subject != "alice" || f.ClientID != "tv" || tok.FamilyID != "fam-1" || f.Revoked {
		t.Errorf("family = %+v, token = %+v", f, tok)
	}
	got, err = s.GetDeviceAuthorization(ctx(t), d.DeviceCodeHash)
	must(t, err)
	if got.Status != store.DeviceRedeemed || got.Version != 3 {
		t.Errorf("after redemption: %+v", got)
	}

	unknown := newDevice("unknown", at(0))
	wantErr(t, s.UpdateDeviceAuthorization(ctx(t), unknown, nil), store.ErrNotFound)
}

// testDeviceConcurrentRedeem: of 20 concurrent redemptions of one
// approved authorization, exactly one commits, with its family.
func testDeviceConcurrentRedeem(t *testing.T, s store.Store) {
	d := newDevice("a", at(0))
	must(t, s.CreateDeviceAuthorization(ctx(t), d))
	d.Status, d.Username = store.DeviceApproved, "alice"
	must(t, s.UpdateDeviceAuthorization(ctx(t), d, nil))
	read, err := s.GetDeviceAuthorization(ctx(t), d.DeviceCodeHash)
	must(t, err)
	read.Status = store.DeviceRedeemed
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fam := store.NewFamily{
				Family: store.Family{ID: fmt.Sprintf("fam-%d", i), Subject: "alice", ClientID: "tv", AuthTime: at(0), ExpiresAt: at(time.Hour)},
				Token:  store.RefreshToken{Hash: hash(fmt.Sprintf("rt-%d", i)), IssuedAt: at(0), ExpiresAt: at(time.Hour)},
			}
			err := s.UpdateDeviceAuthorization(ctx(t), read, &fam)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrStale):
				t.Errorf("redeem %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d redemptions committed, want 1", wins.Load())
	}
	families := 0
	for i := range 20 {
		if _, _, err := s.GetRefresh(ctx(t), hash(fmt.Sprintf("rt-%d", i))); err == nil {
			families++
		}
	}
	if families != 1 {
		t.Errorf("%d families created, want 1", families)
	}
}

// testDeviceDeleteExpired: DeleteExpired removes expired authorizations
// and keeps live ones.
func testDeviceDeleteExpired(t *testing.T, s store.Store) {
	old, live := newDevice("old", at(0)), newDevice("live", at(time.Hour))
	must(t, s.CreateDeviceAuthorization(ctx(t), old))
	must(t, s.CreateDeviceAuthorization(ctx(t), live))
	n, err := s.DeleteExpired(ctx(t), old.ExpiresAt)
	must(t, err)
	if n < 1 {
		t.Errorf("DeleteExpired removed %d rows, want at least 1", n)
	}
	_, err = s.GetDeviceAuthorization(ctx(t), old.DeviceCodeHash)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetDeviceAuthorization(ctx(t), live.DeviceCodeHash)
	must(t, err)
}
