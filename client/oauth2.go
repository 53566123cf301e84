package client

import (
	"context"

	"golang.org/x/oauth2"
)

// TokenSource returns a golang.org/x/oauth2 TokenSource backed by the
// session, for libraries that take one (oauth2.NewClient, gRPC's
// oauth.TokenSource, Google API clients...). Its tokens are renewed as
// Token renews them; ctx is used for the renewals, as in x/oauth2.
func (c *Client) TokenSource(ctx context.Context) oauth2.TokenSource {
	return tokenSource{c: c, ctx: ctx}
}

type tokenSource struct {
	c   *Client
	ctx context.Context
}

// Token implements oauth2.TokenSource.
func (s tokenSource) Token() (*oauth2.Token, error) {
	t, err := s.c.tokens(s.ctx)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: "Bearer", RefreshToken: t.RefreshToken, Expiry: t.Expiry}, nil
}
