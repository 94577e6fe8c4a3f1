package store

import (
	"context"
	"time"
)

// DeviceCode is a device authorization request (RFC 8628): the device polls the token
// endpoint with the device code while a person enters the user code on the verification
// page and approves or denies it. Neither code is stored: ID is the SHA-256 hex digest of
// the device code, UserCodeHash that of the normalised user code.
type DeviceCode struct {
	ID           string
	UserCodeHash string
	ClientID     string
	Scopes       []string
	// Decision is DevicePending until the person answers, then DeviceApproved or
	// DeviceDenied.
	Decision string
	// UserID, Provider and AuthTime are set by the approval: who approved, with which
	// user provider, and when that person's browser session logged in (for an OpenID
	// Connect ID token's auth_time).
	UserID   string
	Provider string
	AuthTime time.Time
	// Interval is the least time the device must wait between two polls; the token
	// endpoint raises it each time it answers slow_down (RFC 8628 §3.5).
	Interval time.Duration
	// LastPolledAt is when the device last polled; zero before the first poll.
	LastPolledAt time.Time
	// Used is set when the approved code was exchanged for tokens: a device code gives
	// tokens once.
	Used bool
	// AccessTokenID is the access token the code was exchanged for; empty until then.
	AccessTokenID string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// The decisions a device code goes through.
const (
	// DevicePending is a device code nobody has answered yet.
	DevicePending = ""
	// DeviceApproved is a device code the person approved.
	DeviceApproved = "approved"
	// DeviceDenied is a device code the person denied.
	DeviceDenied = "denied"
)

// DeviceCodeStore keeps device authorization requests (RFC 8628).
type DeviceCodeStore interface {
	// CreateDeviceCode inserts a pending device code. A user code must name one live
	// device code only: ErrConflict if another device code with the same UserCodeHash
	// has not expired at d.CreatedAt (the caller draws a new user code), or if the id
	// exists; an expired one holding the user code is deleted to make room. ErrNotFound
	// if the client does not exist. A zero CreatedAt is set to now.
	CreateDeviceCode(ctx context.Context, d *DeviceCode) error
	// GetDeviceCode returns a device code by id (digest), in whatever state; ErrNotFound
	// if absent.
	GetDeviceCode(ctx context.Context, id string) (*DeviceCode, error)
	// GetDeviceCodeByUserCode returns the device code holding a user code (digest), in
	// whatever state; ErrNotFound if none.
	GetDeviceCodeByUserCode(ctx context.Context, userCodeHash string) (*DeviceCode, error)
	// DecideDeviceCode records the person's answer (DeviceApproved or DeviceDenied, with
	// who answered) on device code id if it is still pending and has not expired at now,
	// atomically: of two answers exactly one counts. ErrAlreadyUsed if it was answered
	// already or has expired; ErrNotFound if absent.
	DecideDeviceCode(ctx context.Context, id, decision, userID, provider string, authTime, now time.Time) error
	// PollDeviceCode records a poll of device code id at now and returns the device code
	// as it was before (so LastPolledAt is the previous poll), atomically: of two
	// concurrent polls the second sees the first. ErrNotFound if absent.
	PollDeviceCode(ctx context.Context, id string, now time.Time) (*DeviceCode, error)
	// SlowDownDeviceCode adds by to the device code's Interval and returns the new
	// interval; ErrNotFound if absent.
	SlowDownDeviceCode(ctx context.Context, id string, by time.Duration) (time.Duration, error)
	// ExchangeDeviceCode atomically marks the approved, unused device code used, records
	// at.ID on it, and stores the access token and, when refresh is not nil, the refresh
	// token. If the code is not approved or was used already it stores nothing and
	// returns ErrAlreadyUsed, so of two concurrent exchanges exactly one wins;
	// ErrNotFound if absent.
	ExchangeDeviceCode(ctx context.Context, id string, at *AccessToken, refresh *RefreshToken) error
}
