package authserver

import (
	"context"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// apiStorage is what the user's JSON API calls (api_clients.go, api_tokens.go): the
// user's own clients, and the tokens issued to the user.
type apiStorage interface {
	GetClient(ctx context.Context, id string) (*store.Client, error)
	ListClientsByOwner(ctx context.Context, provider, userID string) ([]*store.Client, error)
	CreateClient(ctx context.Context, c *store.Client) error
	UpsertClient(ctx context.Context, c *store.Client) error
	RevokeClient(ctx context.Context, id string) ([]string, error)
	ListUserTokens(ctx context.Context, provider, userID string, now time.Time) ([]*store.UserToken, error)
	GetAccessToken(ctx context.Context, id string) (*store.AccessToken, error)
	RevokeAccessToken(ctx context.Context, id string) error
	DeleteConsent(ctx context.Context, provider, userID, clientID string) error
}
