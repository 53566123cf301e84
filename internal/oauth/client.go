package oauth

import "github.com/tokengate/tokengate/internal/store"

// Client is an authenticated client as the core hands it to the edge: a
// handle for the rest of the request, which the edge passes back to the
// core's methods. The edge learns the client's id and what it may do, never
// its stored record (secret hash, lifetimes, permissions).
type Client struct {
	rec store.Client
}

// ID returns the client's identifier.
func (c *Client) ID() string { return c.rec.ID }

// Public tells whether the client is public (RFC 6749 §2.1): its
// client_id is no credential.
func (c *Client) Public() bool { return c.rec.Public }
