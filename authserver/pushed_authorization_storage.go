package authserver

import (
	"context"

	"github.com/caddyoauth/caddy-oauth/store"
)

// pushedAuthorizationStorage is what the pushed authorization request endpoint calls
// (pushed_authorization.go): recording a pushed request. Reading and using one is the
// authorization endpoint's part (authorize_storage.go).
type pushedAuthorizationStorage interface {
	CreatePushedAuthorizationRequest(ctx context.Context, p *store.PushedAuthorizationRequest) error
}
