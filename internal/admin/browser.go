package admin

import (
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/tokengate/tokengate/internal/store"
)

// Limits on a client's browser settings.
const (
	// MaxRedirectURIs bounds a client's registered redirect URIs.
	MaxRedirectURIs = 32
	// MaxOrigins bounds a client's CORS origins.
	MaxOrigins = 32
	// MaxURILen bounds one redirect URI or origin.
	MaxURILen = 1024
)

// CheckBrowserClient reports why a client's redirect URIs or origins are
// unusable, or why its grants need redirect URIs it lacks, or nil.
func CheckBrowserClient(grants, redirectURIs, origins []string) error {
	var f fields
	checkBrowser(&f, store.Client{Grants: grants, RedirectURIs: redirectURIs, Origins: origins})
	return f.err()
}

func checkBrowser(f *fields, c store.Client) {
	if len(c.RedirectURIs) > MaxRedirectURIs {
		f.add("redirect_uris", "at most %d redirect URIs", MaxRedirectURIs)
	} else {
		for _, u := range c.RedirectURIs {
			if msg := redirectURIProblem(u); msg != "" {
				f.add("redirect_uris", "%q: %s", truncate(u), msg)
				break
			}
		}
	}
	if slices.Contains(c.Grants, "authorization_code") && len(c.RedirectURIs) == 0 {
		f.add("redirect_uris", "a client with the authorization_code grant needs at least one redirect URI")
	}
	if len(c.Origins) > MaxOrigins {
		f.add("origins", "at most %d origins", MaxOrigins)
		return
	}
	for _, o := range c.Origins {
		if !OriginOK(o) {
			f.add("origins", "%q is not an origin: scheme://host[:port], https (or http on a loopback host), no path", truncate(o))
			return
		}
	}
}

// redirectURIProblem says why u cannot be registered as a redirect URI
// (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1), or "". Accepted: an
// absolute https URI; http on a loopback IP literal (a native app's
// loopback redirect, RFC 8252 §7.3; not localhost, §8.3); a private-use
// scheme with a dot in it (com.example.app:/cb). Never a fragment,
// userinfo, or whitespace.
func redirectURIProblem(u string) string {
	if u == "" || len(u) > MaxURILen || strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "must be 1 to 1024 characters without spaces or control characters"
	}
	if strings.Contains(u, "#") {
		return "must not contain a fragment"
	}
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" {
		return "must be an absolute URI"
	}
	if p.User != nil {
		return "must not contain user information"
	}
	switch scheme := p.Scheme; {
	case !strings.HasPrefix(u, scheme+":"):
		return "the scheme must be lower case"
	case scheme == "https":
		if p.Host == "" {
			return "an https URI needs a host"
		}
	case scheme == "http":
		h := p.Hostname()
		if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
			return "http is accepted only on a loopback host (127.0.0.1, [::1]); use https"
		}
	case strings.Contains(scheme, "."):
		// A private-use scheme (RFC 8252 §7.1), reverse domain name.
	default:
		return "must be https, http on a loopback host, or a private-use scheme such as com.example.app:/callback"
	}
	return ""
}

// OriginOK reports whether o is a serialized origin (scheme://host[:port])
// that may be registered for CORS: https, or http on a loopback host.
func OriginOK(o string) bool {
	if o == "" || len(o) > MaxURILen {
		return false
	}
	p, err := url.Parse(o)
	if err != nil || p.Host == "" || p.User != nil || p.Path != "" || p.RawQuery != "" || p.Fragment != "" || p.ForceQuery || strings.HasSuffix(o, "#") {
		return false
	}
	if p.Scheme+"://"+p.Host != o {
		return false
	}
	switch p.Scheme {
	case "https":
		return true
	case "http":
		h := p.Hostname()
		ip := net.ParseIP(h)
		return h == "localhost" || (ip != nil && ip.IsLoopback())
	}
	return false
}
