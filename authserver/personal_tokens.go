package authserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/caddyoauth/caddy-oauth/store"
)

// GrantPersonalAccess is the grant a personal access client has; it is never accepted at
// the token endpoint, only used to issue tokens for a user directly.
const GrantPersonalAccess = "personal_access"

// ErrNoPersonalAccessClient is returned when no personal access client exists for the provider.
var ErrNoPersonalAccessClient = errors.New("no personal access client: run `caddy oauth install` or `caddy oauth client --personal`")

// PersonalToken is a newly issued personal access token. Token is shown once.
type PersonalToken struct {
	// Token is the signed access token, shown to its owner once and never stored.
	Token string
	// Record is the stored record of the token (its jti, name, scopes and expiry).
	Record *store.AccessToken
	// ExpiresIn is the token's lifetime in seconds.
	ExpiresIn int64
	// ClientName is the name of the personal access client it was issued through.
	ClientName string
}

// ErrUnknownUser is returned when a personal access token is asked for a user id its
// provider does not know.
var ErrUnknownUser = errors.New("no such user")

// maxTokenNameLen bounds a personal access token's name, as Passport's column does.
const maxTokenNameLen = 255

// IssuePersonalToken issues a named personal access token for a user through the
// personal access client of the user's provider (the default one when provider is empty).
// Scopes must be defined (`*` is not allowed); none requested gives the default scopes.
// The provider must be configured, and when it can look users up, know the user.
func (s *Server) IssuePersonalToken(ctx context.Context, userID, name string, requested []string, provider string) (*PersonalToken, error) {
	if s.cfg.Issuer == "" {
		return nil, errors.New("issuing a token outside a request needs the server's issuer to be configured")
	}
	return s.issuePersonalToken(ctx, s.cfg.Issuer, userID, name, requested, provider)
}

// issuePersonalToken is IssuePersonalToken with the issuer given: the configured one, or
// the request's origin when the JSON API issues the token.
func (s *Server) issuePersonalToken(ctx context.Context, issuer, userID, name string, requested []string, provider string) (*PersonalToken, error) {
	name = strings.TrimSpace(name)
	if userID == "" || name == "" {
		return nil, errors.New("a user id and a token name are required")
	}
	if len(name) > maxTokenNameLen {
		return nil, fmt.Errorf("the token name is longer than %d bytes", maxTokenNameLen)
	}
	provider, p := s.userProvider(provider)
	if p == nil {
		return nil, fmt.Errorf("user provider %q is not configured", provider)
	}
	granted, err := s.cfg.Scopes.Resolve(cleanScopes(requested), false)
	if err != nil {
		return nil, err
	}
	if lookup, ok := p.(UserLookup); ok {
		exists, err := lookup.UserExists(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("looking the user up: %w", err)
		}
		if !exists {
			return nil, fmt.Errorf("%w: provider %s has no user with id %q", ErrUnknownUser, provider, userID)
		}
	}
	client, err := s.personalAccessClient(ctx, provider)
	if err != nil {
		return nil, err
	}
	tok, oerr := s.record(ctx, issuer, grantSubject{client: client, userID: userID, provider: provider, scopes: granted, name: name, grant: GrantPersonalAccess}, s.cfg.PersonalTokenTTL, false)
	if oerr != nil {
		return nil, oerr
	}
	return &PersonalToken{Token: tok.response.AccessToken, Record: tok.access, ExpiresIn: tok.response.ExpiresIn, ClientName: client.Name}, nil
}

// cleanScopes trims the requested scopes and drops empty and repeated ones, as a
// comma-separated list from a command line or a form may hold them.
func cleanScopes(requested []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, sc := range requested {
		sc = strings.TrimSpace(sc)
		if sc != "" && !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out
}

func (s *Server) personalAccessClient(ctx context.Context, provider string) (*store.Client, error) {
	clients, err := s.personalStore.ListClients(ctx)
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
