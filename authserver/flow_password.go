package authserver

import (
	"context"
	"net/http"
	"net/url"

	"github.com/caddyoauth/caddy-oauth/store"
)

// passwordGrant is RFC 6749 §4.3: the client trades a user's username and password,
// checked by the client's user provider, for an access and refresh token.
func (s *Server) passwordGrant(ctx context.Context, client *store.Client, form url.Values, r *http.Request, cnf *confirmation) (*tokenResponse, *Error) {
	username, password := form.Get("username"), form.Get("password")
	if username == "" || password == "" {
		return nil, errInvalidRequest("username and password are required")
	}
	granted, oerr := s.resolveScopes(form.Get("scope"), true)
	if oerr != nil {
		return nil, oerr
	}
	providerName, provider, oerr := s.clientProvider(client)
	if oerr != nil {
		return nil, oerr
	}
	userID, oerr := s.authenticateUser(r, providerName, provider, username, password)
	if oerr != nil {
		return nil, oerr
	}
	return s.issue(r, grantSubject{client: client, userID: userID, provider: providerName, scopes: granted, grant: GrantPassword, cnf: cnf}, s.cfg.AccessTokenTTL, true)
}
