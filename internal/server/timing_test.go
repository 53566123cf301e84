//go:build unix

package server_test

import (
	"math/rand/v2"
	"net/url"
	"slices"
	"syscall"
	"testing"
	"time"
)

// timingConfig uses the default argon2id parameters, so that the hash
// dominates a login's time as it does in production, and no brute-force
// guard, so that 150 failures are all answered by the grant.
const timingConfig = `
brute_force: {disabled: true}
bootstrap:
  users:
    - {username: alice, password: alice-pw}
    - {username: bob, password: bob-pw, disabled: true}
  clients:
    - {id: app, secret: app-secret, grants: [password]}
`

// TestLoginTimingDoesNotRevealUsers compares the median time of 50 logins
// of an unknown user, 50 wrong passwords of a real user and 50 right
// passwords of a disabled user: each must be within 20% of the others.
// An unknown or disabled user that skipped the hash would answer in a
// fraction of the time.
//
// The kinds are interleaved, in a random order each round, so that load
// from elsewhere on the machine falls on all alike. On a shared machine
// the wall clock is still noisy, so a wall-clock measurement that misses
// is taken again, up to four times (a real leak misses every time); the
// process CPU time each login costs, which other processes cannot
// disturb, must agree within 20% on every attempt.
func TestLoginTimingDoesNotRevealUsers(t *testing.T) {
	if raceEnabled {
		// argon2 under the race detector is ten times slower and its
		// timing says nothing of production; make test runs this test
		// again without -race.
		t.Skip("timing is measured without the race detector (make test runs it in a separate pass)")
	}
	if testing.Short() {
		t.Skip("150+ argon2id hashes with the default parameters")
	}
	ts := newServer(t, timingConfig)
	kinds := []struct {
		name, user, pw string
	}{
		{"unknown user", "nobody", "alice-pw"},
		{"wrong password", "alice", "not-alice-pw"},
		{"disabled user", "bob", "bob-pw"},
	}
	const rounds = 50
	within := func(m []time.Duration) bool {
		lo, hi := slices.Min(m), slices.Max(m)
		return float64(hi-lo) <= 0.2*float64(lo)
	}
	var wall []time.Duration
	for attempt := 1; attempt <= 4; attempt++ {
		wallSamples := make([][]time.Duration, len(kinds))
		cpuSamples := make([][]time.Duration, len(kinds))
		for range rounds {
			for _, i := range rand.Perm(len(kinds)) {
				k := kinds[i]
				start, cpu0 := time.Now(), cpuTime()
				a := ts.token(t, url.Values{"grant_type": {"password"}, "username": {k.user}, "password": {k.pw}}, basic("app", "app-secret"))
				wallSamples[i] = append(wallSamples[i], time.Since(start))
				cpuSamples[i] = append(cpuSamples[i], cpuTime()-cpu0)
				// The answers are identical too.
				if a.status != 400 || a.str("error") != "invalid_grant" || a.str("error_description") != "invalid username or password" {
					t.Fatalf("%s: %d %s", k.name, a.status, a.raw)
				}
			}
		}
		wall = medians(wallSamples)
		cpu := medians(cpuSamples)
		t.Logf("attempt %d: median wall clock %v, CPU %v (unknown user, wrong password, disabled user)", attempt, wall, cpu)
		if !within(cpu) {
			t.Fatalf("the CPU time of a login tells users apart: medians %v (unknown user, wrong password, disabled user)", cpu)
		}
		if within(wall) {
			return
		}
	}
	t.Fatalf("login times tell users apart: medians %v (unknown user, wrong password, disabled user) differ by more than 20%%", wall)
}

func medians(samples [][]time.Duration) []time.Duration {
	out := make([]time.Duration, len(samples))
	for i, s := range samples {
		s = slices.Clone(s)
		slices.Sort(s)
		out[i] = s[len(s)/2]
	}
	return out
}

// cpuTime is the CPU time this process has used. Logins here run one at
// a time, so its growth across one is that login's cost (plus the test
// client's, the same for every kind).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
