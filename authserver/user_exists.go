package authserver

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// reasonUserGone is the revocation reason (events, metrics) of a refresh token refused
// because its user no longer exists.
const reasonUserGone = "user_deleted"

// userGone reports whether the user a grant is for no longer exists, as far as the
// user's provider can tell (a provider that cannot name users from ids, see
// UsernameResolver, is taken at its word that they exist). The refresh and code grants
// ask before every issue, so deleting a user ends their refresh tokens and pending codes:
// otherwise a refresh token issued before the deletion would keep minting tokens, one
// rotation after another. Asked of the provider directly, never of the username cache.
func (s *Server) userGone(ctx context.Context, provider, userID string) (bool, *Error) {
	if userID == "" {
		return false, nil // a client's own token
	}
	_, p := s.userProvider(provider)
	resolver, ok := p.(UsernameResolver)
	if !ok {
		return false, nil
	}
	_, err := resolver.Username(ctx, userID)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, store.ErrNotFound):
		return true, nil
	}
	return false, errUnavailable("checking that a user still exists", err, zap.String("provider", provider))
}
