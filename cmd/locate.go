package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddyoauth/caddy-oauth/authserver"
	// --config reads Caddyfiles: the adapter needs the directives registered.
	_ "github.com/caddyoauth/caddy-oauth/caddyfile"
	"github.com/caddyoauth/caddy-oauth/caddymodule"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// target is what a command works on: the oauth_server configuration, opened outside
// Caddy by the same path Provision takes (caddymodule.OpenStandalone), and its store.
type target struct {
	server *caddymodule.Standalone
	store  store.Store
	// fromConfig is set when the server settings came from --config.
	fromConfig bool
}

// close releases the store and everything else the command opened.
func (t *target) close() { _ = t.server.Close() }

// checkProvider refuses a provider name the config does not configure. Without
// --config only the default provider is known, and any name is taken on trust.
func (t *target) checkProvider(name string) error {
	if name == "" || !t.fromConfig {
		return nil
	}
	names := t.server.ProviderNames()
	for _, n := range names {
		if n == name {
			return nil
		}
	}
	return fmt.Errorf("--provider %q: the config has no such user provider (have: %s)", name, strings.Join(names, ", "))
}

// addStoreFlags adds --config, --adapter and --storage to a command.
func addStoreFlags(c *cobra.Command) {
	c.Flags().StringP("config", "c", "", "Caddyfile or JSON config whose oauth_server names the storage")
	c.Flags().StringP("adapter", "a", "", "config adapter, as for caddy run")
	c.Flags().String("storage", "", "storage as sqlite:<file> or postgres:<dsn> (instead of --config)")
}

// openTarget opens the store named by --storage, or by the first oauth_server of --config.
// With neither, it uses the default SQLite file in Caddy's data directory.
func openTarget(ctx context.Context, c *cobra.Command) (*target, error) {
	configFile, _ := c.Flags().GetString("config")
	adapter, _ := c.Flags().GetString("adapter")
	spec, _ := c.Flags().GetString("storage")
	if configFile != "" && spec != "" {
		return nil, errors.New("use --config or --storage, not both")
	}
	var cfg caddymodule.Server
	var storage *caddymodule.StorageConfig
	if configFile != "" {
		adapted, _, _, err := caddycmd.LoadConfig(configFile, adapter)
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", configFile, err)
		}
		raw, err := findServer(adapted)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", configFile, err)
		}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, fmt.Errorf("%s: decoding oauth_server: %w", configFile, err)
		}
	}
	if spec != "" {
		driver, dsn, err := drivers.ParseSpec(spec)
		if err != nil {
			return nil, err
		}
		storage = &caddymodule.StorageConfig{Driver: driver, DSN: dsn}
	}
	srv, err := caddymodule.OpenStandalone(ctx, &cfg, storage)
	if err != nil {
		if configFile != "" {
			return nil, fmt.Errorf("%s: %w", configFile, err)
		}
		return nil, err
	}
	return &target{server: srv, store: srv.Store(), fromConfig: configFile != ""}, nil
}

// findServer walks an adapted JSON config for the first oauth_server handler.
func findServer(cfg []byte) (json.RawMessage, error) {
	var doc any
	if err := json.Unmarshal(cfg, &doc); err != nil {
		return nil, err
	}
	var found any
	var walk func(v any)
	walk = func(v any) {
		if found != nil {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			if x["handler"] == "oauth_server" {
				found = x
				return
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if found == nil {
		return nil, errors.New("no oauth_server in this config")
	}
	return json.Marshal(found)
}

// alg is the signing algorithm of keys the commands make.
func (t *target) alg() string { return t.server.SigningAlg() }

// authServer builds the protocol server for commands that issue tokens, as Provision
// would build it. The user provider named provider (default: users) is usable; others
// may not be. issuer, if set, replaces the configured issuer.
func (t *target) authServer(ctx context.Context, issuer, provider string) (*authserver.Server, error) {
	cfg, err := t.server.ServerConfig(ctx, provider)
	if err != nil {
		return nil, err
	}
	if issuer != "" {
		cfg.Issuer = issuer
	}
	return authserver.New(cfg)
}
