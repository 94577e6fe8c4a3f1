package authserver

import (
	"context"

	"github.com/caddyoauth/caddy-oauth/store"
)

// authorizeStorage is what the authorization endpoint calls (authorize.go): the asking
// client, what the user approved before, recording a new approval, and the code it issues.
type authorizeStorage interface {
	GetClient(ctx context.Context, id string) (*store.Client, error)
	GetConsent(ctx context.Context, provider, userID, clientID string) (*store.Consent, error)
	SaveConsent(ctx context.Context, c *store.Consent) error
	CreateAuthCode(ctx context.Context, c *store.AuthCode) error
}
