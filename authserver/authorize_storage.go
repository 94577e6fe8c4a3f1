package authserver

import (
	"context"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// authorizeStorage is what the authorization endpoint calls (authorize.go): the asking
// client, what the user approved before, recording a new approval, the code it issues,
// and the pushed request (RFC 9126) a request_uri names, read while the person signs in
// and consents, used once when the response is produced.
type authorizeStorage interface {
	GetClient(ctx context.Context, id string) (*store.Client, error)
	GetConsent(ctx context.Context, provider, userID, clientID string) (*store.Consent, error)
	SaveConsent(ctx context.Context, c *store.Consent) error
	CreateAuthCode(ctx context.Context, c *store.AuthCode) error
	GetPushedAuthorizationRequest(ctx context.Context, id string) (*store.PushedAuthorizationRequest, error)
	UsePushedAuthorizationRequest(ctx context.Context, id, clientID string, now time.Time) error
}
