package authserver

import (
	"context"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// passwordGrant is RFC 6749 §4.3: the client trades a user's username and password,
// checked by the client's user provider, for an access and refresh token.
func (s *Server) passwordGrant(ctx context.Context, client *store.Client, form url.Values, r *http.Request) (*tokenResponse, *Error) {
	username, password := form.Get("username"), form.Get("password")
	if username == "" || password == "" {
		return nil, errInvalidRequest("username and password are required")
	}
	granted, oerr := s.resolveScopes(form.Get("scope"), true)
	if oerr != nil {
		return nil, oerr
	}
	providerName := client.Provider
	if providerName == "" {
		providerName = DefaultProvider
	}
	provider, ok := s.cfg.Providers[providerName]
	if !ok {
		return nil, errUnauthorizedClient("the client's user provider is not configured").logged(
			"client names an unknown user provider", nil, zap.String("client_id", client.ID), zap.String("provider", providerName))
	}
	userID, oerr := s.authenticateUser(r, providerName, provider, username, password)
	if oerr != nil {
		return nil, oerr
	}
	return s.issue(r, grantSubject{client: client, userID: userID, provider: providerName, scopes: granted, grant: GrantPassword}, s.cfg.AccessTokenTTL, true)
}
