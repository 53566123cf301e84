package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/secret"
	"github.com/tokengate/tokengate/internal/store"
	"github.com/tokengate/tokengate/internal/store/memory"
)

// deviceFixture adds to the core fixture a public client tv allowed the
// device grant and a second one, other.
func deviceFixture(t *testing.T) *coreFixture {
	t.Helper()
	fx := newCoreFixture(t, memory.New())
	for _, id := range []string{"tv", "other"} {
		c := store.Client{ID: id, Public: true, Grants: []string{GrantDeviceCode, GrantRefreshToken}, Scopes: []string{"read", "write"}, CreatedAt: fx.now}
		if err := fx.store.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

func (fx *coreFixture) deviceAuthorize(t *testing.T, clientID, scope string) *DeviceResponse {
	t.Helper()
	r, err := fx.svc.DeviceAuthorize(context.Background(), &DeviceRequest{ClientID: clientID, Scope: scope, ScopeGiven: scope != ""}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (fx *coreFixture) poll(clientID, deviceCode string) (*TokenResponse, error) {
	return fx.svc.Token(context.Background(), &TokenRequest{GrantType: GrantDeviceCode, ClientID: clientID, DeviceCode: deviceCode}, &Profile{})
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var oe *Error
	if !errors.As(err, &oe) || oe.Code != code {
		t.Fatalf("error = %v, want %s", err, code)
	}
}

var alice = UserCodeAttempt{IP: "192.0.2.1", SessionID: "s-alice", Username: "alice"}

func TestDeviceAuthorizeAnswersRFC8628(t *testing.T) {
	fx := deviceFixture(t)
	r := fx.deviceAuthorize(t, "tv", "read")
	if r.VerificationURI != "https://issuer.test/device" || r.ExpiresIn != 600 || r.Interval != 5 {
		t.Errorf("response = %+v", r)
	}
	if len(r.UserCode) != 9 || r.UserCode[4] != '-' {
		t.Fatalf("user code %q is not XXXX-XXXX", r.UserCode)
	}
	for _, c := range strings.ReplaceAll(r.UserCode, "-", "") {
		if !strings.ContainsRune(UserCodeAlphabet, c) {
			t.Errorf("user code %q has %q, outside the alphabet", r.UserCode, c)
		}
	}
	if r.VerificationURIComplete != r.VerificationURI+"?user_code="+r.UserCode {
		t.Errorf("verification_uri_complete = %q", r.VerificationURIComplete)
	}
	if len(r.DeviceCode) < 40 {
		t.Errorf("device code %q is short", r.DeviceCode)
	}
	// Only hashes are stored: the record is found by the hash of each code.
	d, err := fx.store.GetDeviceAuthorization(context.Background(), secret.Hash(r.DeviceCode))
	if err != nil {
		t.Fatal(err)
	}
	uc, _ := NormalizeUserCode(r.UserCode)
	if string(d.UserCodeHash) != string(secret.Hash(uc)) || d.ClientID != "tv" || len(d.Scopes) != 1 || d.Scopes[0] != "read" {
		t.Errorf("stored = %+v", d)
	}
}

func TestDeviceAuthorizeRefusesClientWithoutTheGrant(t *testing.T) {
	fx := deviceFixture(t)
	_, err := fx.svc.DeviceAuthorize(context.Background(), &DeviceRequest{ClientID: "web"}, nil)
	wantCode(t, err, CodeUnauthorizedClient)
	_, err = fx.svc.DeviceAuthorize(context.Background(), &DeviceRequest{ClientID: "tv", Scope: "admin", ScopeGiven: true}, nil)
	wantCode(t, err, CodeInvalidScope)
	_, err = fx.svc.DeviceAuthorize(context.Background(), &DeviceRequest{ClientID: "nobody"}, nil)
	wantCode(t, err, CodeInvalidClient)
}

func TestDeviceAuthorizeTTLIsConfigurable(t *testing.T) {
	fx := deviceFixture(t)
	fx.svc.settings.DeviceCodeTTL = 90 * time.Second
	if r := fx.deviceAuthorize(t, "tv", ""); r.ExpiresIn != 90 {
		t.Errorf("expires_in = %d, want 90", r.ExpiresIn)
	}
}

func TestDevicePollPendingAndSlowDown(t *testing.T) {
	fx := deviceFixture(t)
	r := fx.deviceAuthorize(t, "tv", "")
	_, err := fx.poll("tv", r.DeviceCode)
	wantCode(t, err, CodeAuthorizationPending)
	// Sooner than the interval: slow_down, and the interval grows by 5 s.
	fx.now = fx.now.Add(4 * time.Second)
	_, err = fx.poll("tv", r.DeviceCode)
	wantCode(t, err, CodeSlowDown)
	fx.now = fx.now.Add(9 * time.Second) // 9 s < 10 s
	_, err = fx.poll("tv", r.DeviceCode)
	wantCode(t, err, CodeSlowDown)
	fx.now = fx.now.Add(15 * time.Second) // the interval is 15 s now
	_, err = fx.poll("tv", r.DeviceCode)
	wantCode(t, err, CodeAuthorizationPending)
	d, _ := fx.store.GetDeviceAuthorization(context.Background(), secret.Hash(r.DeviceCode))
	if d.Interval != 15*time.Second {
		t.Errorf("interval = %v, want 15s", d.Interval)
	}
}

func TestDevicePollExpired(t *testing.T) {
	fx := deviceFixture(t)
	r := fx.deviceAuthorize(t, "tv", "")
	fx.now = fx.now.Add(10 * time.Minute)
	_, err := fx.poll("tv", r.DeviceCode)
	wantCode(t, err, CodeExpiredToken)
	// The user code is refused too.
	_, err = fx.svc.LookupUserCode(context.Background(), r.UserCode, alice)
	if !errors.Is(err, ErrUserCode) {
		t.Errorf("lookup of an expired code: %v", err)
	}
	if err := fx.svc.DecideUserCode(context.Background(), r.UserCode, true, alice, fx.now); !errors.Is(err, ErrUserCode) {
		t.Errorf("approval of an expired code: %v", err)
	}
}

func TestDevicePollDenied(t *testing.T) {
	fx := deviceFixture(t)
	r := fx.deviceAuthorize(t, "tv", "")
	if err := fx.svc.DecideUserCode(context.Background(), r.UserCode, false, alice, fx.now); err != nil {
		t.Fatal(err)
	}
	_, err := fx.poll("tv", r.DeviceCode)
	wantCode(t, err, CodeAccessDenied)
	// Decided once: it cannot be approved afterwards.
	if err := fx.svc.DecideUserCode(context.Background(), r.UserCode, true, alice, fx.now); !errors.Is(err, ErrUserCode) {
		t.Errorf("approval after denial: %v", err)
	}
}

func TestDeviceApprovedThenExactlyOnePoll(t *testing.T) {
	fx := deviceFixture(t)
	r := fx.deviceAuthorize(t, "tv", "read write")
	info, err := fx.svc.LookupUserCode(context.Background(), strings.ToLower(strings.ReplaceAll(r.UserCode, "-", " ")), alice)
	if err != nil {
		t.Fatal(err)
	}
	if info.ClientID != "tv" || strings.Join(info.Scopes, " ") != "read write" || info.UserCode != r.UserCode {
		t.Errorf("info = %+v", info)
	}
	authTime := fx.now.Add(-time.Minute)
	if err := fx.svc.DecideUserCode(context.Background(), r.UserCode, true, alice, authTime); err != nil {
		t.Fatal(err)
	}
	resp, err := fx.poll("tv", r.DeviceCode)
	if err != nil {
		t.Fatal(err)
	}
	if resp.AccessToken == "" || resp.RefreshToken == "" || resp.Scope != "read write" {
		t.Errorf("response = %+v", resp)
	}
	_, fam, err := fx.store.GetRefresh(context.Background(), secret.Hash(resp.RefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	if fam.Subject != "alice" || fam.ClientID != "tv" || !fam.AuthTime.Equal(authTime) {
		t.Errorf("family = %+v", fam)
	}
	if !fx.active(t, resp.AccessToken) {
		t.Error("issued access token is not active")
	}
	_, err = fx.poll("tv", r.DeviceCode)
	wantCode(t, err, CodeInvalidGrant)
	// The refresh token works like any other.
	if _, err := fx.svc.Token(context.Background(), &TokenRequest{GrantType: GrantRefreshToken, ClientID: "tv", RefreshToken: resp.RefreshToken}, &Profile{}); err != nil {
		t.Errorf("refresh: %v", err)
	}
}

func TestDeviceConcurrentPollsIssueOnce(t *testing.T) {
	fx := deviceFixture(t)
	r := fx.deviceAuthorize(t, "tv", "")
	if err := fx.svc.DecideUserCode(context.Background(), r.UserCode, true, alice, fx.now); err != nil {
		t.Fatal(err)
	}
	var wins, used atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := fx.poll("tv", r.DeviceCode)
			var oe *Error
			switch {
			case err == nil:
				wins.Add(1)
			case errors.As(err, &oe) && oe.Code == CodeInvalidGrant:
				used.Add(1)
			default:
				t.Errorf("poll: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || used.Load() != 99 {
		t.Fatalf("%d polls got tokens and %d were told the code was used; want 1 and 99", wins.Load(), used.Load())
	}
}

func TestDeviceCodeOfAnotherClient(t *testing.T) {
	fx := deviceFixture(t)
	r := fx.deviceAuthorize(t, "tv", "")
	if err := fx.svc.DecideUserCode(context.Background(), r.UserCode, true, alice, fx.now); err != nil {
		t.Fatal(err)
	}
	_, err := fx.poll("other", r.DeviceCode)
	wantCode(t, err, CodeInvalidGrant)
	if oe := AsError(err); oe.Description != "device code is invalid" {
		t.Errorf("another client's code is told apart from an unknown one: %q", oe.Description)
	}
	// It changed nothing: the client it was issued to still collects.
	if _, err := fx.poll("tv", r.DeviceCode); err != nil {
		t.Fatal(err)
	}
	_, err = fx.poll("tv", "tgd_unknown")
	wantCode(t, err, CodeInvalidGrant)
}

func TestDeviceRedeemRefusesDisabledUser(t *testing.T) {
	fx := deviceFixture(t)
	r := fx.deviceAuthorize(t, "tv", "")
	if err := fx.svc.DecideUserCode(context.Background(), r.UserCode, true, alice, fx.now); err != nil {
		t.Fatal(err)
	}
	u, _ := fx.store.GetUser(context.Background(), "alice")
	u.Disabled = true
	if err := fx.store.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	_, err := fx.poll("tv", r.DeviceCode)
	wantCode(t, err, CodeInvalidGrant)
}

func TestUserCodeGuessingIsLimited(t *testing.T) {
	fx := deviceFixture(t)
	r := fx.deviceAuthorize(t, "tv", "")
	for i := range UserCodeAttempts {
		if _, err := fx.svc.LookupUserCode(context.Background(), "BBBB-BBBB", alice); !errors.Is(err, ErrUserCode) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	// Past the limit even the right code is refused, for this session
	// and this user, whatever the IP.
	_, err := fx.svc.LookupUserCode(context.Background(), r.UserCode, alice)
	if oe := AsError(err); oe.Status != http.StatusTooManyRequests {
		t.Fatalf("entry past the limit: %v", err)
	}
	_, err = fx.svc.LookupUserCode(context.Background(), r.UserCode, UserCodeAttempt{IP: "198.51.100.7", SessionID: "s-new", Username: "alice"})
	if oe := AsError(err); oe.Status != http.StatusTooManyRequests {
		t.Fatalf("another session of the same user: %v", err)
	}
	// Another user elsewhere is not affected, and the window passes.
	if _, err := fx.svc.LookupUserCode(context.Background(), r.UserCode, UserCodeAttempt{IP: "198.51.100.8", SessionID: "s-bob", Username: "bob"}); err != nil {
		t.Fatalf("another user: %v", err)
	}
	fx.now = fx.now.Add(UserCodeWindow)
	if _, err := fx.svc.LookupUserCode(context.Background(), "BBBB-BBBB", alice); !errors.Is(err, ErrUserCode) {
		t.Fatalf("after the window: %v", err)
	}
}

func TestUserCodeGuessingIsLimitedUnderConcurrency(t *testing.T) {
	fx := deviceFixture(t)
	var wrong atomic.Int32
	var wg sync.WaitGroup
	for range 3 * UserCodeAttempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := fx.svc.LookupUserCode(context.Background(), "BBBB-BBBB", alice); errors.Is(err, ErrUserCode) {
				wrong.Add(1)
			}
		}()
	}
	wg.Wait()
	if wrong.Load() != UserCodeAttempts {
		t.Fatalf("%d guesses were checked, want %d", wrong.Load(), UserCodeAttempts)
	}
}

func TestNormalizeUserCode(t *testing.T) {
	for in, want := range map[string]string{
		"BCDF-GHJK": "BCDFGHJK", "bcdf ghjk": "BCDFGHJK", " bcdfghjk ": "BCDFGHJK", "BC-DF-GH-JK": "BCDFGHJK",
		"BCDF-GHJA": "", "BCDF-GHJ": "", "BCDF-GHJKL": "", "ÀCDF-GHJK": "", "": "",
	} {
		got, ok := NormalizeUserCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestDecideDevicePoll(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	base := store.DeviceAuthorization{ClientID: "tv", ExpiresAt: t0.Add(10 * time.Minute), Interval: 5 * time.Second, Status: store.DevicePending}
	with := func(f func(*store.DeviceAuthorization)) store.DeviceAuthorization { d := base; f(&d); return d }
	for _, tc := range []struct {
		name   string
		d      store.DeviceAuthorization
		client string
		now    time.Time
		want   DevicePollOutcome
	}{
		{"first poll", base, "tv", t0, DeviceStillPending},
		{"wrong client", base, "other", t0, DeviceWrongClient},
		{"too fast", with(func(d *store.DeviceAuthorization) { d.LastPollAt = t0 }), "tv", t0.Add(4 * time.Second), DeviceTooFast},
		{"on time", with(func(d *store.DeviceAuthorization) { d.LastPollAt = t0 }), "tv", t0.Add(5 * time.Second), DeviceStillPending},
		{"expired (inclusive)", base, "tv", base.ExpiresAt, DeviceExpired},
		{"denied", with(func(d *store.DeviceAuthorization) { d.Status = store.DeviceDenied }), "tv", t0, DeviceDeniedByUser},
		{"approved, even polled fast", with(func(d *store.DeviceAuthorization) { d.Status, d.LastPollAt = store.DeviceApproved, t0 }), "tv", t0, DeviceRedeem},
		{"approved but expired", with(func(d *store.DeviceAuthorization) { d.Status = store.DeviceApproved }), "tv", base.ExpiresAt, DeviceExpired},
		{"redeemed", with(func(d *store.DeviceAuthorization) { d.Status = store.DeviceRedeemed }), "tv", t0, DeviceUsed},
		{"wrong client of a redeemed code", with(func(d *store.DeviceAuthorization) { d.Status = store.DeviceRedeemed }), "other", t0, DeviceWrongClient},
	} {
		if got := DecideDevicePoll(tc.d, tc.client, tc.now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
