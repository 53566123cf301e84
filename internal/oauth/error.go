package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error codes of RFC 6749 §5.2, RFC 7009 §2.2.1 and RFC 6750 §3.1, plus
// temporarily_unavailable for overload.
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidClient          = "invalid_client"
	CodeInvalidGrant           = "invalid_grant"
	CodeUnauthorizedClient     = "unauthorized_client"
	CodeUnsupportedGrantType   = "unsupported_grant_type"
	CodeInvalidScope           = "invalid_scope"
	CodeUnsupportedTokenType   = "unsupported_token_type"
	CodeServerError            = "server_error"
	CodeTemporarilyUnavailable = "temporarily_unavailable"
	CodeSlowDown               = "slow_down"
	// RFC 8628 §3.5: the device flow's polling answers.
	CodeAuthorizationPending = "authorization_pending"
	CodeExpiredToken         = "expired_token"
)

// Reason refines an error for contracts whose dialects tell cases apart
// that OAuth folds into one code (a dialect may answer 404 for a refresh
// token that never existed and 400 for one already used).
type Reason string

// Reasons a contract may render differently.
const (
	ReasonNone           Reason = ""
	ReasonMissing        Reason = "missing"         // a required parameter is absent
	ReasonMalformed      Reason = "malformed"       // a parameter is present but unusable
	ReasonBadCredentials Reason = "bad_credentials" // username/password or key wrong
	ReasonUnknownToken   Reason = "unknown_token"   // the token was never issued here
	ReasonTokenExpired   Reason = "token_expired"
	ReasonTokenReused    Reason = "token_reused"
	ReasonTokenRevoked   Reason = "token_revoked"
	ReasonLocked         Reason = "locked" // too many failures: back-off
)

// Error is the one OAuth error type. Contracts render it in their dialect;
// the default dialect renders {error, error_description} with Status.
type Error struct {
	Code        string
	Description string // safe for clients: never a secret, never internals
	Status      int
	Reason      Reason
	// Param names the parameter at fault, when one is.
	Param string
	// RetryAfter is set for 429 and 503 answers.
	RetryAfter time.Duration
	// BasicAuth is set when the client tried HTTP Basic; a 401 then
	// carries WWW-Authenticate (RFC 6749 §5.2).
	BasicAuth bool
	// Cause is an internal error for logs; it is never rendered.
	Cause error
}

// Error returns the code and description (never the internal cause).
func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// AsError returns err as an *Error; any other error becomes server_error
// (500) with the original kept as Cause for logging.
func AsError(err error) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	return &Error{Code: CodeServerError, Description: "internal error", Status: http.StatusInternalServerError, Cause: err}
}

func errInvalidRequest(param, desc string, reason Reason) *Error {
	return &Error{Code: CodeInvalidRequest, Description: desc, Status: http.StatusBadRequest, Param: param, Reason: reason}
}

// ErrMissing is invalid_request naming the missing parameter.
func ErrMissing(param string) *Error {
	return errInvalidRequest(param, "missing required parameter: "+param, ReasonMissing)
}

// ErrRepeated is invalid_request naming the repeated parameter.
func ErrRepeated(param string) *Error {
	if len(param) > 64 {
		param = param[:64] // names come from the client: echo a bounded part
	}
	return errInvalidRequest(param, "parameter given more than once: "+param, ReasonMalformed)
}

// ErrInvalidRequest is invalid_request with a description.
func ErrInvalidRequest(desc string) *Error {
	return errInvalidRequest("", desc, ReasonMalformed)
}

func errInvalidClient(basic bool) *Error {
	return &Error{Code: CodeInvalidClient, Description: "client authentication failed", Status: http.StatusUnauthorized, BasicAuth: basic}
}

func errInvalidGrant(desc string, reason Reason) *Error {
	return &Error{Code: CodeInvalidGrant, Description: desc, Status: http.StatusBadRequest, Reason: reason}
}

func errInvalidScope(desc string) *Error {
	return &Error{Code: CodeInvalidScope, Description: desc, Status: http.StatusBadRequest, Param: "scope"}
}

func errUnauthorizedClient(desc string) *Error {
	return &Error{Code: CodeUnauthorizedClient, Description: desc, Status: http.StatusBadRequest}
}

func errUnavailable(cause error) *Error {
	return &Error{Code: CodeTemporarilyUnavailable, Description: "server is busy, retry later", Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Cause: cause}
}

func errServer(cause error) *Error {
	return &Error{Code: CodeServerError, Description: "internal error", Status: http.StatusInternalServerError, Cause: cause}
}

// errStorageUnavailable answers a write that failed because the store's
// storage is full: the client may retry, and is told why.
func errStorageUnavailable() *Error {
	return &Error{Code: CodeTemporarilyUnavailable, Description: "storage is unavailable, retry later", Status: http.StatusServiceUnavailable, RetryAfter: 5 * time.Second}
}

// errAuthorizationPending answers a device flow poll before the user has
// decided (RFC 8628 §3.5).
func errAuthorizationPending() *Error {
	return &Error{Code: CodeAuthorizationPending, Description: "the user has not yet approved this device", Status: http.StatusBadRequest}
}

// errSlowDown answers a device flow poll that came sooner than the
// interval; interval is the new one (RFC 8628 §3.5).
func errSlowDown(interval time.Duration) *Error {
	return &Error{Code: CodeSlowDown, Description: fmt.Sprintf("polling too fast: wait at least %d seconds between requests", int64(interval/time.Second)), Status: http.StatusBadRequest}
}

// errExpiredToken answers a device flow poll with an expired device code.
func errExpiredToken() *Error {
	return &Error{Code: CodeExpiredToken, Description: "the device code has expired", Status: http.StatusBadRequest, Reason: ReasonTokenExpired}
}

// errAccessDenied answers a device flow poll the user denied.
func errAccessDenied(desc string) *Error {
	return &Error{Code: CodeAccessDenied, Description: desc, Status: http.StatusBadRequest}
}

// RFC 6750 §3.1 error codes of protected resources (the userinfo
// endpoint): 401 and 403 at the edge, with WWW-Authenticate: Bearer.
const (
	CodeInvalidToken      = "invalid_token"
	CodeInsufficientScope = "insufficient_scope"
)

// errInvalidToken is RFC 6750 invalid_token: the bearer token is
// malformed, expired, revoked or otherwise not accepted.
func errInvalidToken(desc string) *Error {
	return &Error{Code: CodeInvalidToken, Description: desc, Status: http.StatusUnauthorized}
}

// errInsufficientScope is RFC 6750 insufficient_scope; Param names the
// scope the request needs.
func errInsufficientScope(scope string) *Error {
	return &Error{Code: CodeInsufficientScope, Description: "the access token lacks the " + scope + " scope", Status: http.StatusForbidden, Param: scope}
}

// Error codes of the authorization endpoint (RFC 6749 §4.1.2.1) and
// OpenID Connect Core §3.1.2.6.
const (
	CodeAccessDenied            = "access_denied"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeLoginRequired           = "login_required"
	CodeConsentRequired         = "consent_required"
)

// ErrAccessDenied is access_denied: the user (or the server) refused the
// authorization request.
func ErrAccessDenied(desc string) *Error {
	return &Error{Code: CodeAccessDenied, Description: desc, Status: http.StatusForbidden}
}

// ErrLoginRequired is login_required: prompt=none, and nobody is signed in
// (or the sign-in is older than max_age).
func ErrLoginRequired() *Error {
	return &Error{Code: CodeLoginRequired, Description: "the user is not signed in", Status: http.StatusBadRequest}
}

// ErrConsentRequired is consent_required: prompt=none, and the client
// needs the user's consent.
func ErrConsentRequired() *Error {
	return &Error{Code: CodeConsentRequired, Description: "the client needs the user's consent", Status: http.StatusBadRequest}
}

func errUnsupportedResponseType() *Error {
	return &Error{Code: CodeUnsupportedResponseType, Description: "response_type must be code", Status: http.StatusBadRequest, Param: "response_type"}
}

// errInvalidParam is invalid_request naming a parameter that is present
// but unusable.
func errInvalidParam(param, desc string) *Error {
	return errInvalidRequest(param, desc, ReasonMalformed)
}
