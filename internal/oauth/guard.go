package oauth

import (
	"context"
	"log/slog"
	"time"

	"github.com/tokengate/tokengate/internal/store"
)

// GuardOptions configure brute-force protection.
type GuardOptions struct {
	// Threshold is how many failures within Window lock a key out.
	Threshold int
	// IPThreshold is the same for one client IP, which many users may
	// share; default 10 × Threshold.
	IPThreshold int
	Window      time.Duration
	// BaseBackoff is the first lock-out; each further failure doubles it,
	// up to MaxBackoff.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
}

// Guard counts failed password and API-key attempts per username and per
// client IP in the store, so that the count holds across nodes, and
// refuses attempts past the threshold before any hashing is done.
type Guard struct {
	store store.Attempts
	o     GuardOptions
	now   func() time.Time
	log   *slog.Logger
}

// NewGuard returns a Guard with defaults filled in: 10 failures in 15
// minutes, back-off from 1 minute doubling with each further failure to
// 1 hour.
func NewGuard(st store.Attempts, o GuardOptions, now func() time.Time, log *slog.Logger) *Guard {
	if o.Threshold <= 0 {
		o.Threshold = 10
	}
	if o.IPThreshold <= 0 {
		o.IPThreshold = 10 * o.Threshold
	}
	if o.Window <= 0 {
		o.Window = 15 * time.Minute
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = time.Minute
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Guard{store: st, o: o, now: now, log: log}
}

// hold is how long the count of a key that has reached its threshold is
// kept: the window plus twice MaxBackoff, room for the back-off to double
// all the way up (base + 2·base + … + max < 2·max). Without it the count
// would reset when the window in which the threshold was reached ends, and
// the lock-out could never outgrow the window (1, 2, 4, 8 minutes and back
// to a fresh count, with the defaults), so MaxBackoff would be unreachable.
func (g *Guard) hold() time.Duration { return g.o.Window + 2*g.o.MaxBackoff }

func userKey(u string) string { return "user:" + u }

// clientKey counts failed authentications of a client with an imported
// (costly) secret hash, apart from usernames.
func clientKey(id string) string { return "client:" + id }
func ipKey(ip string) string     { return "ip:" + ip }

// backoff is the lock-out after count failures against threshold.
func (g *Guard) backoff(count, threshold int) time.Duration {
	d := g.o.BaseBackoff
	for i := threshold; i < count && d < g.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, g.o.MaxBackoff)
}

// check refuses with 429 when the user or the IP is locked out. The same
// answer is given whether or not the user exists.
func (g *Guard) check(ctx context.Context, username, ip string) error {
	if g == nil {
		return nil
	}
	now := g.now()
	var wait time.Duration
	for i, key := range [...]string{userKey(username), ipKey(ip)} {
		if key == "user:" || key == "ip:" {
			continue
		}
		threshold := g.o.Threshold
		if i == 1 {
			threshold = g.o.IPThreshold
		}
		// Counts below the threshold were recorded within one window (see
		// fail), so reading over the longer hold changes only how long a
		// lock-out lasts, never when one starts.
		n, last, err := g.store.Failures(ctx, key, now, g.hold())
		if err != nil {
			// Fail closed: without the counters we cannot know.
			return errUnavailable(err)
		}
		if n >= threshold {
			if w := last.Add(g.backoff(n, threshold)).Sub(now); w > wait {
				wait = w
			}
		}
	}
	if wait > 0 {
		return errLocked(wait)
	}
	return nil
}

// errLocked is the 429 of a locked-out user or IP.
func errLocked(wait time.Duration) *Error {
	return &Error{Code: CodeInvalidRequest, Description: "too many failed attempts; retry later", RetryAfter: wait, Reason: ReasonLocked}
}

// reserve counts a password attempt for the user and the IP before the
// password is hashed, each with one atomic statement that succeeds only
// while the key is under its threshold (or its lock-out has run out). So
// at most Threshold guesses per user per window are ever checked, however
// many arrive at once on however many nodes. A reserved attempt that
// fails stays counted as the failure; succeed and release take it back.
// Locked out, it answers 429 as check does and reserves nothing.
func (g *Guard) reserve(ctx context.Context, username, ip string) error {
	return g.reserveKey(ctx, userKey(username), ip)
}

// reserveKey is reserve for the key subj (userKey, clientKey) and ip.
func (g *Guard) reserveKey(ctx context.Context, subj, ip string) error {
	if g == nil {
		return nil
	}
	now := g.now()
	var reserved []string
	for i, key := range [...]string{subj, ipKey(ip)} {
		if key == "user:" || key == "ip:" {
			continue
		}
		threshold := g.o.Threshold
		if i == 1 {
			threshold = g.o.IPThreshold
		}
		n, last, err := g.store.Failures(ctx, key, now, g.hold())
		if err != nil {
			g.releaseKeys(ctx, reserved)
			return errUnavailable(err) // fail closed
		}
		// Below the threshold attempts count within the window; at it,
		// one attempt is let through per back-off period, and the count
		// is kept for the hold so that each doubles the next lock-out.
		window, since := g.o.Window, time.Time{}
		if n >= threshold {
			b := g.backoff(n, threshold)
			if w := last.Add(b).Sub(now); w > 0 {
				g.releaseKeys(ctx, reserved)
				return errLocked(w)
			}
			window, since = g.hold(), now.Add(-b)
		}
		n, ok, err := g.store.ReserveAttempt(ctx, key, now, window, threshold, since)
		if err != nil {
			g.releaseKeys(ctx, reserved)
			return errUnavailable(err)
		}
		if !ok {
			// Another request took the last attempt meanwhile.
			g.releaseKeys(ctx, reserved)
			return errLocked(g.backoff(n, threshold))
		}
		reserved = append(reserved, key)
	}
	return nil
}

// release takes back the attempts reserve counted, for a check that did
// not happen (the hashing queue was full, the request was cancelled).
func (g *Guard) release(ctx context.Context, username, ip string) {
	if g == nil {
		return
	}
	g.releaseKeys(ctx, []string{userKey(username), ipKey(ip)})
}

// releaseKey is release for the key subj (userKey, clientKey) and ip.
func (g *Guard) releaseKey(ctx context.Context, subj, ip string) {
	if g == nil {
		return
	}
	g.releaseKeys(ctx, []string{subj, ipKey(ip)})
}

func (g *Guard) releaseKeys(ctx context.Context, keys []string) {
	for _, key := range keys {
		if key == "user:" || key == "ip:" {
			continue
		}
		if err := g.store.ReleaseAttempt(context.WithoutCancel(ctx), key); err != nil {
			g.log.Warn("releasing a login attempt", "err", err)
		}
	}
}

func (g *Guard) fail(ctx context.Context, username, ip string) {
	if g == nil {
		return
	}
	now := g.now()
	for i, key := range [...]string{userKey(username), ipKey(ip)} {
		if key == "user:" || key == "ip:" {
			continue
		}
		threshold := g.o.Threshold
		if i == 1 {
			threshold = g.o.IPThreshold
		}
		// A key already at its threshold keeps counting for the hold, so
		// that each failure after a lock-out doubles the next one; below
		// it, failures count within the window only.
		window := g.o.Window
		if n, _, err := g.store.Failures(ctx, key, now, g.hold()); err == nil && n >= threshold {
			window = g.hold()
		}
		if _, err := g.store.RecordFailure(ctx, key, now, window); err != nil {
			g.log.Warn("recording failed login", "err", err)
		}
	}
}

// succeed forgets the user's failures and takes back the attempt reserve
// counted for the IP: a successful login is no guess.
func (g *Guard) succeed(ctx context.Context, username, ip string) {
	subj := ""
	if username != "" {
		subj = userKey(username)
	}
	g.succeedKey(ctx, subj, ip)
}

// succeedKey is succeed for the key subj (userKey, clientKey; "" for none).
func (g *Guard) succeedKey(ctx context.Context, subj, ip string) {
	if g == nil {
		return
	}
	if subj != "" {
		if err := g.store.ResetFailures(ctx, subj); err != nil {
			g.log.Warn("resetting failed logins", "err", err)
		}
	}
	g.releaseKeys(ctx, []string{ipKey(ip)})
}

// CheckBearerAttempt refuses (429, as a locked-out login) while the client
// IP ip is locked out for failed credentials. Endpoints that take a bearer
// token as their only credential (the admin API) call it first and
// RecordBearerFailure for a token that is not accepted, so that guessing
// there counts like guessing passwords and API keys, per IP.
func (s *Service) CheckBearerAttempt(ctx context.Context, ip string) error {
	if ip == "" {
		return nil
	}
	return s.guard.check(ctx, "", ip)
}

// RecordBearerFailure counts a refused bearer token against ip.
func (s *Service) RecordBearerFailure(ctx context.Context, ip string) {
	if ip != "" {
		s.guard.fail(ctx, "", ip)
	}
}
