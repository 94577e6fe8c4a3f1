package authserver

import (
	"context"
	"net/http"
	"net/url"

	"github.com/caddyoauth/caddy-oauth/store"
)

// clientCredentialsGrant is RFC 6749 §4.4: a confidential client gets a token for itself,
// without a refresh token (§4.4.3).
func (s *Server) clientCredentialsGrant(_ context.Context, client *store.Client, form url.Values, r *http.Request, cnf *confirmation) (*tokenResponse, *Error) {
	granted, oerr := s.resolveScopes(form.Get("scope"), true)
	if oerr != nil {
		return nil, oerr
	}
	return s.issue(r, grantSubject{client: client, scopes: granted, grant: GrantClientCredentials, cnf: cnf}, s.cfg.AccessTokenTTL, false)
}
