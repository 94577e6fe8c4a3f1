package authserver

import (
	"context"

	"github.com/caddyoauth/caddy-oauth/store"
)

// tokenIssueStorage is what issuing a token pair outside a one-use exchange calls
// (token_issuer.go): recording the pair in one write, and, with RevokePreviousTokens,
// revoking the tokens it supersedes.
type tokenIssueStorage interface {
	CreateAccessToken(ctx context.Context, at *store.AccessToken, refresh *store.RefreshToken) error
	RevokeOtherTokens(ctx context.Context, userID, clientID, keepAccessTokenID string) ([]string, error)
}
