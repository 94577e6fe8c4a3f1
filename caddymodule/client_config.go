package caddymodule

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// ClientConfig declares a client in the config; it is created or updated at every start.
type ClientConfig struct {
	// ID is the client_id.
	ID string `json:"id"`
	// Name is shown on the consent screen. Default: the id.
	Name string `json:"name,omitempty"`
	// Secret is the client secret, usually a placeholder such as {env.API_CLIENT_SECRET};
	// it is stored hashed. Empty makes a public client.
	Secret string `json:"secret,omitempty"`
	// Grants lists the grant types the client may use: client_credentials, password,
	// refresh_token, authorization_code. Default: client_credentials.
	Grants []string `json:"grants,omitempty"`
	// RedirectURIs are the exact redirect URIs of an authorization code client.
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// Provider is the user provider a password client authenticates against. Default: users.
	Provider string `json:"provider,omitempty"`
	// FirstParty skips the consent screen.
	FirstParty bool `json:"first_party,omitempty"`
	// Introspect allows the client to call the introspection endpoint.
	Introspect bool `json:"introspect,omitempty"`
}

var knownGrants = map[string]bool{
	"client_credentials": true, "password": true, "refresh_token": true, "authorization_code": true,
}

// record turns the declaration into a store record, resolving placeholders in the secret.
func (c ClientConfig) record(repl *caddy.Replacer) (*store.Client, error) {
	if c.ID == "" {
		return nil, errors.New("id is required")
	}
	grants := c.Grants
	if len(grants) == 0 {
		grants = []string{"client_credentials"}
	}
	for _, g := range grants {
		if !knownGrants[g] {
			return nil, fmt.Errorf("grant %q: must be one of client_credentials, password, refresh_token, authorization_code", g)
		}
	}
	for _, u := range c.RedirectURIs {
		if err := authserver.CheckRedirectURI(u); err != nil {
			return nil, fmt.Errorf("redirect_uri: %w", err)
		}
	}
	secret := repl.ReplaceKnown(c.Secret, "")
	if c.Secret != "" && secret == "" {
		return nil, fmt.Errorf("secret %q resolved to an empty value (is the environment variable set?)", c.Secret)
	}
	if secret != "" && len(secret) < 16 {
		return nil, errors.New("secret must be at least 16 characters")
	}
	if secret == "" {
		// The token endpoint refuses these grants to public clients, so a client declared
		// this way could never get a token: say so at start instead.
		for _, g := range grants {
			if g == "client_credentials" || g == "password" {
				return nil, fmt.Errorf("grant %q needs a secret (a client without one is public)", g)
			}
		}
	}
	name := c.Name
	if name == "" {
		name = c.ID
	}
	now := time.Now().UTC()
	rec := &store.Client{
		ID:           c.ID,
		Name:         name,
		RedirectURIs: c.RedirectURIs,
		Grants:       grants,
		Provider:     c.Provider,
		FirstParty:   c.FirstParty,
		Introspect:   c.Introspect,
		Declarative:  true,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if secret != "" {
		rec.SecretHash = authserver.HashSecret(secret)
	}
	return rec, nil
}
