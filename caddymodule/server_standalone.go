package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// Standalone is an oauth_server configuration opened outside a running Caddy, for the
// `caddy oauth` command line: its store is open, and the protocol server's configuration
// is built on demand by the same path Provision takes (the same checks, defaults and
// resources), so a command sees what a running server would. Close releases it.
type Standalone struct {
	settings *serverSettings
	res      *directResources
	store    store.Store
}

// OpenStandalone checks the configuration and opens its store. storage, if not nil,
// replaces the configured storage (the command line's --storage); its DSN is used as
// given, without placeholders. Errors name the option, as Provision's do.
func OpenStandalone(ctx context.Context, cfg *Server, storage *StorageConfig) (*Standalone, error) {
	set, err := cfg.settings(caddy.NewReplacer(), storage)
	if err != nil {
		return nil, fmt.Errorf("oauth_server: %w", err)
	}
	res := &directResources{}
	openCtx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
	defer cancel()
	st, err := openStorage(openCtx, set, res)
	if err != nil {
		return nil, errors.Join(err, res.release())
	}
	return &Standalone{settings: set, res: res, store: st}, nil
}

// Store is the open store.
func (o *Standalone) Store() store.Store { return o.store }

// SigningAlg is the algorithm of keys the configuration makes (signing_alg, default
// ES256).
func (o *Standalone) SigningAlg() string { return o.settings.signingAlg }

// ProviderNames lists the configured user providers, the default one first.
func (o *Standalone) ProviderNames() []string { return o.settings.providerNames() }

// ServerConfig builds the protocol server's configuration, loading the signing keys
// (making one if the store has none). Of the sql user providers only the one named
// provider (default: the default provider) is opened, so a command about one provider
// does not depend on another's database being up.
func (o *Standalone) ServerConfig(ctx context.Context, provider string) (authserver.Config, error) {
	if provider == "" {
		provider = authserver.DefaultProvider
	}
	cfg, err := serverConfig(ctx, o.settings, o.store, o.res, func(name string) bool { return name == provider })
	if err != nil {
		return authserver.Config{}, fmt.Errorf("oauth_server: %w", err)
	}
	return cfg, nil
}

// Close closes the store and whatever else was opened.
func (o *Standalone) Close() error { return o.res.release() }

// storeOpenTimeout bounds opening the store (and its migrations) and the keys.
const storeOpenTimeout = 30 * time.Second
