package authserver

import (
	"context"

	"github.com/caddyoauth/caddy-oauth/store"
)

// personalTokenStorage is what finding a provider's personal access client calls
// (personal_tokens.go, fresh_api_token.go); the tokens themselves are recorded through
// tokenIssueStorage.
type personalTokenStorage interface {
	ListClients(ctx context.Context) ([]*store.Client, error)
}
