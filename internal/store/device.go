package store

import (
	"context"
	"time"
)

// States of a device authorization (RFC 8628).
const (
	DevicePending  = "pending"  // waiting for the user
	DeviceApproved = "approved" // the user approved; tokens not yet collected
	DeviceDenied   = "denied"   // the user denied
	DeviceRedeemed = "redeemed" // the client collected its tokens
)

// DeviceAuthorization is one RFC 8628 device authorization: a device
// code the client polls with and a user code a person enters. Both are
// stored as SHA-256 hashes only.
type DeviceAuthorization struct {
	DeviceCodeHash []byte // identifies the record
	// UserCodeHash is the hash of the normalised user code; unique among
	// authorizations that have not expired.
	UserCodeHash []byte
	ClientID     string
	Scopes       []string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	// Interval is the minimum time between two polls; it grows with each
	// slow_down.
	Interval   time.Duration
	LastPollAt time.Time // zero before the first poll
	Status     string    // DevicePending, DeviceApproved, DeviceDenied or DeviceRedeemed
	// Username is the user who approved or denied, and AuthTime when that
	// user authenticated.
	Username string
	AuthTime time.Time
	// Version counts updates: the compare-and-set's expectation in
	// UpdateDeviceAuthorization. A new record has version 0.
	Version int64
}

// NewFamily is a refresh family to create with its first token (what the
// redemption of an approved device authorization creates).
type NewFamily struct {
	Family Family
	Token  RefreshToken
}

// DeviceAuthorizations is the device authorization part of the store. The
// core decides every transition; the store persists it with a
// compare-and-set on Version.
type DeviceAuthorizations interface {
	// CreateDeviceAuthorization stores d (its Version is stored as 0).
	// ErrConflict when the device code hash exists or the user code hash
	// belongs to an authorization that has not expired at d.CreatedAt; an
	// expired one with the same user code is replaced.
	CreateDeviceAuthorization(ctx context.Context, d DeviceAuthorization) error
	// GetDeviceAuthorization returns the authorization of a device code
	// hash, whatever its state; ErrNotFound when unknown.
	GetDeviceAuthorization(ctx context.Context, deviceCodeHash []byte) (DeviceAuthorization, error)
	// GetDeviceAuthorizationByUserCode returns the authorization of a
	// user code hash, whatever its state; ErrNotFound when unknown.
	GetDeviceAuthorizationByUserCode(ctx context.Context, userCodeHash []byte) (DeviceAuthorization, error)
	// UpdateDeviceAuthorization stores d's Interval, LastPollAt, Status,
	// Username and AuthTime and moves it to Version d.Version+1, only if
	// the stored record is still at d.Version (one conditional statement):
	// ErrStale when it is not (nothing is written), ErrNotFound when it is
	// gone. With issue not nil, the family and its first token are
	// created in the same transaction, so that a redemption and the
	// tokens it issues commit together or not at all.
	UpdateDeviceAuthorization(ctx context.Context, d DeviceAuthorization, issue *NewFamily) error
}
