package store

import (
	"context"
	"time"
)

// UserToken is an access token a user holds, with the name of the client it was issued
// to, as the dashboard and GET /oauth/tokens show it.
type UserToken struct {
	AccessToken
	// ClientName is the name of the client the token was issued to.
	ClientName string
	// Personal is set when the client is a personal access client: the token is one of
	// the user's personal access tokens rather than an authorized application's.
	Personal bool
}

// DashboardStore is what the user's JSON API and dashboard need beyond the other stores.
// A user is named by provider and id together, as tokens and sessions name them.
type DashboardStore interface {
	// ListClientsByOwner lists the clients the user made (Client.UserID and Provider equal
	// userID and provider) that are not revoked, ordered by creation time.
	ListClientsByOwner(ctx context.Context, provider, userID string) ([]*Client, error)
	// ListUserTokens lists the user's access tokens that are neither revoked nor expired
	// at now, with their client's name, ordered by creation time.
	ListUserTokens(ctx context.Context, provider, userID string, now time.Time) ([]*UserToken, error)
	// RevokeClient marks a client revoked together with every access token, refresh token
	// and authorization code issued to it, and appends the access tokens it revoked to the
	// revocation log, atomically. It keeps the rows, so the user's dashboard and
	// introspection still know them. It returns the ids of the access
	// tokens it revoked. ErrNotFound if absent.
	RevokeClient(ctx context.Context, id string) ([]string, error)
}
