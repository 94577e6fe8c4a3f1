package store

import (
	"context"
	"time"
)

// PushedAuthorizationRequest is an authorization request a client pushed to the PAR
// endpoint (RFC 9126) and then names at the authorization endpoint by its request_uri.
// The request_uri is not stored: ID is the SHA-256 hex digest of its random part.
type PushedAuthorizationRequest struct {
	ID       string
	ClientID string
	// Params are the pushed authorization request parameters, URL-encoded (the form
	// body as validated), which replace the authorization request's query when used.
	Params string
	// Used is set once an authorization response (a code, or an error sent to the
	// redirect URI) was produced for it: a request_uri is good for one response.
	Used      bool
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PushedAuthorizationRequestStore keeps pushed authorization requests (RFC 9126).
type PushedAuthorizationRequestStore interface {
	// CreatePushedAuthorizationRequest inserts an unused pushed request; ErrConflict if
	// the id exists, ErrNotFound if the client does not exist. A zero CreatedAt is set
	// to now.
	CreatePushedAuthorizationRequest(ctx context.Context, p *PushedAuthorizationRequest) error
	// GetPushedAuthorizationRequest returns a pushed request by id (digest), used or
	// expired or not; ErrNotFound if absent.
	GetPushedAuthorizationRequest(ctx context.Context, id string) (*PushedAuthorizationRequest, error)
	// UsePushedAuthorizationRequest marks pushed request id of client clientID used if
	// it is unused and has not expired at now, atomically: of two concurrent uses
	// exactly one succeeds. ErrAlreadyUsed if it was used or has expired; ErrNotFound if
	// there is no such request of that client.
	UsePushedAuthorizationRequest(ctx context.Context, id, clientID string, now time.Time) error
}
