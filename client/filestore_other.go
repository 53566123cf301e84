//go:build !unix

package client

import (
	"context"
	"io/fs"
)

// lockFile is a no-op where flock(2) is not available: processes sharing
// a FileStore there are not serialized (a Client still serializes its
// own renewals).
func lockFile(ctx context.Context, path string) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return func() {}, nil
}

// ownedByUser is false where ownership cannot be read: directory modes
// are then left alone.
func ownedByUser(fs.FileInfo) bool { return false }
