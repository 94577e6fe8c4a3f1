package authserver

import (
	"context"

	"github.com/caddyoauth/caddy-oauth/store"
)

// revocationStorage is what the revocation endpoint calls (endpoint_revoke.go): reading
// the presented token's record, and revoking an access token with its refresh tokens or
// a refresh token's whole family.
type revocationStorage interface {
	GetAccessToken(ctx context.Context, id string) (*store.AccessToken, error)
	RevokeAccessToken(ctx context.Context, id string) error
	GetRefreshToken(ctx context.Context, id string) (*store.RefreshToken, error)
	RevokeRefreshFamily(ctx context.Context, familyID string) error
}
