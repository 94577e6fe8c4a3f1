package authserver

import (
	"context"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// clientAuthStorage is what authenticating a client calls (client_auth.go, and
// caller_auth.go for resource servers): the client's record, replacing an imported
// bcrypt secret with a digest once it has been verified, and recording the id of an
// accepted client assertion so it is never accepted twice (client_assertion.go).
type clientAuthStorage interface {
	GetClient(ctx context.Context, id string) (*store.Client, error)
	UpdateClientSecretHash(ctx context.Context, id, secretHash string) error
	UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) error
}
