package authserver

import (
	"context"

	"github.com/caddyoauth/caddy-oauth/store"
)

// clientAuthStorage is what authenticating a client calls (client_auth.go, and
// caller_auth.go for resource servers): the client's record, and replacing an imported
// bcrypt secret with a digest once it has been verified.
type clientAuthStorage interface {
	GetClient(ctx context.Context, id string) (*store.Client, error)
	UpdateClientSecretHash(ctx context.Context, id, secretHash string) error
}
