// Package reqinfo carries what the access log wants to know about a
// request but only an inner layer learns, such as the authenticated
// client's id, from the core back out to the server's logging middleware.
package reqinfo

import "context"

// Info is filled in while a request is handled. It is written by the one
// goroutine that serves the request and read after the handler returns.
type Info struct {
	// ClientID is the OAuth client that authenticated, or "".
	ClientID string
}

type key struct{}

// With returns ctx carrying info.
func With(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, key{}, info)
}

// SetClient records the authenticated client of the request ctx belongs
// to; it does nothing when ctx carries no Info.
func SetClient(ctx context.Context, clientID string) {
	if info, ok := ctx.Value(key{}).(*Info); ok {
		info.ClientID = clientID
	}
}

// Client returns the client SetClient recorded for ctx's request, or "".
func Client(ctx context.Context) string {
	if info, ok := ctx.Value(key{}).(*Info); ok {
		return info.ClientID
	}
	return ""
}
