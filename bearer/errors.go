package bearer

import "errors"

// Verification errors. Verify wraps exactly one of them; test with
// errors.Is. None of them, nor their wrappers, ever contains the token.
var (
	// ErrMissingToken means the request carries no bearer token.
	ErrMissingToken = errors.New("bearer: no bearer token")
	// ErrMalformed means the token is not a compact JWS with a JSON claims
	// object, is too long, or lacks exp.
	ErrMalformed = errors.New("bearer: malformed token")
	// ErrAlgorithm means the alg header is not allowed, or is not the
	// algorithm of the key named by kid ("none" and the HMAC algorithms
	// never are).
	ErrAlgorithm = errors.New("bearer: token algorithm not accepted")
	// ErrUnknownKey means no key of the issuer has the token's kid, even
	// after refetching the key set.
	ErrUnknownKey = errors.New("bearer: token signed by an unknown key")
	// ErrSignature means the signature does not verify.
	ErrSignature = errors.New("bearer: token signature invalid")
	// ErrType means the typ header is not at+jwt (RFC 9068 §2.1): an ID
	// token or a JWT refresh token is not an access token.
	ErrType = errors.New("bearer: not an access token (typ)")
	// ErrUse means the token's "usefor" claim says it is not an access
	// token.
	ErrUse = errors.New("bearer: not an access token (usefor)")
	// ErrExpired means exp is past, beyond the leeway.
	ErrExpired = errors.New("bearer: token expired")
	// ErrNotYetValid means nbf or iat is in the future, beyond the
	// not-before leeway.
	ErrNotYetValid = errors.New("bearer: token not yet valid")
	// ErrLifetime means the token's lifetime (exp − iat, or exp − now
	// without iat) exceeds Config.MaxTokenLifetime.
	ErrLifetime = errors.New("bearer: token lifetime exceeds the maximum")
	// ErrIssuer means iss is not the expected issuer.
	ErrIssuer = errors.New("bearer: token issuer mismatch")
	// ErrAudience means the expected audience is not in aud.
	ErrAudience = errors.New("bearer: token audience mismatch")
	// ErrInactive means the introspection endpoint answered that the
	// token is not active (revoked, expired or unknown), or that it is
	// not an access token.
	ErrInactive = errors.New("bearer: token is not active")
	// ErrUnavailable means the token could not be checked because the
	// introspection endpoint could not be reached or answered an error.
	// The middleware answers it with 503, not 401.
	ErrUnavailable = errors.New("bearer: token check unavailable")
)
