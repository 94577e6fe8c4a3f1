package authserver

import (
	"context"

	"github.com/caddyoauth/caddy-oauth/store"
)

// introspectionStorage is what introspection calls (endpoint_introspect.go, and
// token_verify.go, which also checks a resource server's Bearer token): one indexed
// read of the token's record.
type introspectionStorage interface {
	GetAccessToken(ctx context.Context, id string) (*store.AccessToken, error)
	GetRefreshToken(ctx context.Context, id string) (*store.RefreshToken, error)
}
