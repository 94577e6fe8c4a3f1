package authserver

import (
	"context"

	"github.com/caddyoauth/caddy-oauth/store"
)

// authCodeGrantStorage is what the authorization code grant calls
// (flow_authorize_code_token.go): reading the code, exchanging it for tokens in one
// atomic step, and revoking what a reused code gave.
type authCodeGrantStorage interface {
	GetAuthCode(ctx context.Context, id string) (*store.AuthCode, error)
	ExchangeAuthCode(ctx context.Context, codeID string, at *store.AccessToken, refresh *store.RefreshToken) error
	RevokeAuthCodeTokens(ctx context.Context, codeID string) error
}
