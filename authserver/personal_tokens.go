package authserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddyoauth/caddy-oauth/store"
)

// GrantPersonalAccess is the grant a personal access client has; it is never accepted at
// the token endpoint, only used to issue tokens for a user directly.
const GrantPersonalAccess = "personal_access"

// ErrNoPersonalAccessClient is returned when no personal access client exists for the provider.
var ErrNoPersonalAccessClient = errors.New("no personal access client: run `caddy oauth install` or `caddy oauth client --personal`")

// PersonalToken is a newly issued personal access token. Token is shown once.
type PersonalToken struct {
	Token     string
	Record    *store.AccessToken
	ExpiresIn int64
}

// IssuePersonalToken issues a named personal access token for a user through the
// personal access client of the user's provider (the default one when provider is empty).
// Scopes must be defined; `*` is not allowed.
func (s *Server) IssuePersonalToken(ctx context.Context, userID, name string, requested []string, provider string) (*PersonalToken, error) {
	if userID == "" || name == "" {
		return nil, errors.New("a user id and a token name are required")
	}
	if provider == "" {
		provider = DefaultProvider
	}
	granted, err := s.cfg.Scopes.Resolve(requested, false)
	if err != nil {
		return nil, err
	}
	client, err := s.personalAccessClient(ctx, provider)
	if err != nil {
		return nil, err
	}
	issuer := s.cfg.Issuer
	if issuer == "" {
		return nil, errors.New("issuing a token outside a request needs the server's issuer to be configured")
	}
	tok, oerr := s.record(ctx, issuer, grantSubject{client: client, userID: userID, provider: provider, scopes: granted, name: name, grant: GrantPersonalAccess}, s.cfg.PersonalTokenTTL, false)
	if oerr != nil {
		return nil, oerr
	}
	return &PersonalToken{Token: tok.response.AccessToken, Record: tok.access, ExpiresIn: tok.response.ExpiresIn}, nil
}

func (s *Server) personalAccessClient(ctx context.Context, provider string) (*store.Client, error) {
	clients, err := s.cfg.Store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing clients: %w", err)
	}
	var found *store.Client
	for _, c := range clients {
		if c.Revoked || !c.HasGrant(GrantPersonalAccess) {
			continue
		}
		p := c.Provider
		if p == "" {
			p = DefaultProvider
		}
		if p == provider {
			found = c // the newest wins, as clients are listed oldest first
		}
	}
	if found == nil {
		return nil, ErrNoPersonalAccessClient
	}
	return found, nil
}
