package federation

import (
	"context"
	"errors"
	"time"

	"github.com/tokengate/tokengate/internal/oauth"
	"github.com/tokengate/tokengate/internal/store"
)

// rejected is invalid_grant with a description safe for clients: it names
// what is wrong with the external token, never the token itself.
func rejected(desc string) *oauth.Error {
	return &oauth.Error{Code: oauth.CodeInvalidGrant, Description: "external token: " + desc}
}

// Rejections, each with its own description so that operators and
// clients can tell the cases apart.
func errMalformed() *oauth.Error         { return rejected("malformed JWT") }
func errAlgorithm() *oauth.Error         { return rejected("signing algorithm not allowed") }
func errUntrustedIssuer() *oauth.Error   { return rejected("untrusted issuer") }
func errUnknownKey() *oauth.Error        { return rejected("unknown signing key") }
func errSignature() *oauth.Error         { return rejected("invalid signature") }
func errAudience() *oauth.Error          { return rejected("wrong audience") }
func errNotYetValid() *oauth.Error       { return rejected("not yet valid") }
func errIssuedInFuture() *oauth.Error    { return rejected("issued in the future") }
func errNoExpiry() *oauth.Error          { return rejected("no expiry (exp)") }
func errNoSubject() *oauth.Error         { return rejected("no subject claim") }
func errEmailUnverified() *oauth.Error   { return rejected("email is not verified") }
func errSubjectNotAllowed() *oauth.Error { return rejected("subject is not allowed to log in") }
func errNoLocalUser() *oauth.Error       { return rejected("no local user for this subject") }
func errUserDisabled() *oauth.Error      { return rejected("local user is disabled") }
func errTooLong() *oauth.Error           { return rejected("too long") }

func errExpired() *oauth.Error {
	e := rejected("expired")
	e.Reason = oauth.ReasonTokenExpired
	return e
}

// errUnavailable is 503: the provider's keys could not be fetched in
// time. The client may retry; nothing is wrong with its token as far as
// is known.
func errUnavailable(cause error) *oauth.Error {
	return &oauth.Error{
		Code: oauth.CodeTemporarilyUnavailable, Description: "identity provider unavailable, retry later", RetryAfter: 5 * time.Second, Cause: cause,
	}
}

// storeErr maps a store failure: unavailability is 503, anything else 500.
func storeErr(err error) *oauth.Error {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &oauth.Error{Code: oauth.CodeTemporarilyUnavailable, Description: "server is busy, retry later", RetryAfter: time.Second, Cause: err}
	}
	return &oauth.Error{Code: oauth.CodeServerError, Description: "internal error", Cause: err}
}
