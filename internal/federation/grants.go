package federation

import (
	"context"
	"errors"

	"github.com/tokengate/tokengate/internal/oauth"
)

// Token types a token exchange accepts as subject_token_type (RFC 8693
// §3). All three name a JWT of a trusted issuer here.
const (
	TokenTypeJWT     = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken = "urn:ietf:params:oauth:token-type:id_token"
)

// RegisterGrants adds the RFC 8693 token exchange and RFC 7523 JWT bearer
// grants to svc. Clients use them only when their grants list them.
func (a *Authenticator) RegisterGrants(svc *oauth.Service) {
	svc.RegisterGrant(oauth.GrantTokenExchange, a.tokenExchange)
	svc.RegisterGrant(oauth.GrantJWTBearer, a.jwtBearer)
}

// tokenExchange is RFC 8693: a trusted issuer's token (subject_token)
// is exchanged for a tokengate access token. No refresh token: this
// swaps one temporary credential for another (RFC 8693 §2.2.1), and the
// client exchanges again when it needs to.
func (a *Authenticator) tokenExchange(ctx context.Context, _ *oauth.Client, r *oauth.TokenRequest, _ *oauth.Profile) (*oauth.Subject, error) {
	if r.SubjectToken == "" {
		return nil, oauth.ErrMissing("subject_token")
	}
	if r.SubjectTokenType == "" {
		return nil, oauth.ErrMissing("subject_token_type")
	}
	switch r.SubjectTokenType {
	case oauth.TokenTypeAccessToken, TokenTypeJWT, TokenTypeIDToken:
	default:
		return nil, &oauth.Error{Code: oauth.CodeInvalidRequest, Description: "unsupported subject_token_type: use an access_token, jwt or id_token of a trusted issuer", Param: "subject_token_type", Reason: oauth.ReasonMalformed}
	}
	sub, err := a.Authenticate(ctx, r.SubjectToken)
	if err != nil {
		// RFC 8693 §2.2.2: an invalid or unacceptable subject_token is
		// invalid_request.
		var oe *oauth.Error
		if errors.As(err, &oe) && oe.Code == oauth.CodeInvalidGrant {
			e := *oe
			e.Code, e.Param = oauth.CodeInvalidRequest, "subject_token"
			return nil, &e
		}
		return nil, err
	}
	return sub, nil
}

// jwtBearer is RFC 7523 §2.1: a trusted issuer's JWT (assertion) is the
// authorization grant; its aud must be one the issuer is configured to
// accept (typically tokengate's issuer or token endpoint URL). No refresh
// token (RFC 7521 §4.1): the client presents a new assertion instead.
func (a *Authenticator) jwtBearer(ctx context.Context, _ *oauth.Client, r *oauth.TokenRequest, _ *oauth.Profile) (*oauth.Subject, error) {
	if r.Assertion == "" {
		return nil, oauth.ErrMissing("assertion")
	}
	return a.Authenticate(ctx, r.Assertion)
}
