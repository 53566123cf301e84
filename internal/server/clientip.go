package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipResolver finds a request's client IP: the connection's address, or
// the right-most untrusted X-Forwarded-For entry when the connection comes
// from a configured trusted proxy.
type ipResolver struct {
	trusted []netip.Prefix
}

func newIPResolver(proxies []string) *ipResolver {
	r := &ipResolver{}
	for _, p := range proxies {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			r.trusted = append(r.trusted, pfx)
		} else if a, err := netip.ParseAddr(p); err == nil {
			r.trusted = append(r.trusted, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return r
}

func (r *ipResolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (r *ipResolver) clientIP(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || len(r.trusted) == 0 || !r.isTrusted(addr.Unmap()) {
		return host
	}
	xff := req.Header.Values("X-Forwarded-For")
	hops := strings.Split(strings.Join(xff, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHop(strings.TrimSpace(hops[i]))
		if err != nil {
			return host
		}
		if !r.isTrusted(a.Unmap()) {
			return a.Unmap().String()
		}
	}
	return host
}

// parseHop reads one X-Forwarded-For entry: an address, or an address
// with a port ("203.0.113.7:4711", "[2001:db8::1]:4711"), as some proxies
// write them.
func parseHop(h string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a, nil
	}
	ap, err := netip.ParseAddrPort(h)
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr(), nil
}

// limiter is a per-IP token bucket with a bounded table: when full, idle
// entries are swept, and if none are idle new IPs share one bucket, so
// memory stays bounded under a flood of distinct addresses.
type limiter struct {
	mu       sync.Mutex
	per      rate.Limit
	burst    int
	max      int
	exemptLo bool
	ips      map[string]*entry
	overflow *rate.Limiter
	now      func() time.Time
	// swept is when the table was last swept; sweeps counts them. A sweep
	// walks the whole table under the lock, so a flood of new addresses
	// into a full table sweeps at most once per sweepEvery, not once per
	// request.
	swept  time.Time
	sweeps int
}

// sweepEvery bounds how often a full table is swept for idle entries.
const sweepEvery = time.Second

// idleAfter is how long an entry must be unused before a sweep drops it.
const idleAfter = time.Minute

type entry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64, burst, max int, exemptLoopback bool) *limiter {
	if burst <= 0 {
		burst = 1
	}
	if max <= 0 {
		max = 100000
	}
	return &limiter{per: rate.Limit(perSecond), burst: burst, max: max, exemptLo: exemptLoopback,
		ips: make(map[string]*entry), overflow: rate.NewLimiter(rate.Limit(perSecond), burst), now: time.Now}
}

// allow reports whether ip may make a request now.
func (l *limiter) allow(ip string) bool {
	if l.exemptLo {
		if a, err := netip.ParseAddr(ip); err == nil && a.Unmap().IsLoopback() {
			return true
		}
	}
	now := l.now()
	l.mu.Lock()
	e, ok := l.ips[ip]
	if !ok {
		if len(l.ips) >= l.max && now.Sub(l.swept) >= sweepEvery {
			l.swept = now
			l.sweeps++
			for k, v := range l.ips {
				if now.Sub(v.seen) > idleAfter {
					delete(l.ips, k)
				}
			}
		}
		if len(l.ips) >= l.max {
			l.mu.Unlock()
			return l.overflow.AllowN(now, 1)
		}
		e = &entry{lim: rate.NewLimiter(l.per, l.burst)}
		l.ips[ip] = e
	}
	e.seen = now
	l.mu.Unlock()
	return e.lim.AllowN(now, 1)
}
