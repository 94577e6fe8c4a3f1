package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddyoauth/caddy-oauth/authserver"
	// --config reads Caddyfiles: the adapter needs the directives registered.
	_ "github.com/caddyoauth/caddy-oauth/caddyfile"
	"github.com/caddyoauth/caddy-oauth/caddymodule"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// target is what a command works on: the store and the server settings that matter
// outside a request (issuer, key algorithm, lifetimes, scopes).
type target struct {
	store  store.Store
	server caddymodule.Server
	// closers release what commands opened besides the store (application databases).
	closers []func() error
	// fromConfig is set when the server settings came from --config.
	fromConfig bool
	// driver and dsn locate the store, which sql providers read by default.
	driver, dsn string
}

// close releases the store and everything else the command opened.
func (t *target) close() {
	for _, c := range t.closers {
		_ = c()
	}
	_ = t.store.Close()
}

// providerNames lists the user providers of the config, the default one first.
func (t *target) providerNames() []string {
	names := []string{authserver.DefaultProvider}
	for _, u := range t.server.Users {
		if u.Name != "" && u.Name != authserver.DefaultProvider {
			names = append(names, u.Name)
		}
	}
	return names
}

// checkProvider refuses a provider name the config does not configure. Without
// --config only the default provider is known, and any name is taken on trust.
func (t *target) checkProvider(name string) error {
	if name == "" || !t.fromConfig {
		return nil
	}
	for _, n := range t.providerNames() {
		if n == name {
			return nil
		}
	}
	return fmt.Errorf("--provider %q: the config has no such user provider (have: %s)", name, strings.Join(t.providerNames(), ", "))
}

// providers builds the config's user providers. The application database of a sql
// provider is opened (and closed with the target) only for the provider named want, so a
// command about one provider does not depend on another's database being up.
func (t *target) providers(ctx context.Context, want string) (map[string]authserver.UserProvider, error) {
	out := map[string]authserver.UserProvider{}
	repl := caddy.NewReplacer()
	for _, u := range t.server.Users {
		name := u.Name
		if name == "" {
			name = authserver.DefaultProvider
		}
		switch u.Kind {
		case "sql":
			if name != want {
				continue
			}
			driver, dsn := t.driver, t.dsn
			if u.Database != nil {
				driver, dsn = u.Database.Driver, repl.ReplaceKnown(u.Database.DSN, "")
			}
			db, err := authserver.OpenUserDB(driver, dsn)
			if err != nil {
				return nil, fmt.Errorf("users %s: %w", name, err)
			}
			t.closers = append(t.closers, db.Close)
			p, err := authserver.NewSQLUsers(ctx, db, u.Query)
			if err != nil {
				return nil, fmt.Errorf("users %s: %w", name, err)
			}
			out[name] = p
		default:
			out[name] = authserver.NewBuiltinUsers(t.store)
		}
	}
	return out, nil
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
	t := &target{}
	if configFile != "" && spec != "" {
		return nil, errors.New("use --config or --storage, not both")
	}
	if configFile != "" {
		cfg, _, _, err := caddycmd.LoadConfig(configFile, adapter)
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", configFile, err)
		}
		raw, err := findServer(cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", configFile, err)
		}
		if err := json.Unmarshal(raw, &t.server); err != nil {
			return nil, fmt.Errorf("%s: decoding oauth_server: %w", configFile, err)
		}
		t.fromConfig = true
	}
	driver, dsn := "sqlite", ""
	switch {
	case spec != "":
		var err error
		if driver, dsn, err = drivers.ParseSpec(spec); err != nil {
			return nil, err
		}
	case t.server.Storage != nil:
		driver, dsn = t.server.Storage.Driver, caddy.NewReplacer().ReplaceKnown(t.server.Storage.DSN, "")
	}
	if driver == "sqlite" && dsn == "" {
		dsn = filepath.Join(caddy.AppDataDir(), "oauth", "oauth.db")
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := drivers.Open(openCtx, driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s storage: %w", driver, err)
	}
	t.store, t.driver, t.dsn = st, driver, dsn
	return t, nil
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
func (t *target) alg() string {
	if t.server.SigningAlg != "" {
		return t.server.SigningAlg
	}
	return keys.ES256
}

// authServer builds the protocol server for commands that issue tokens.
// The user provider named provider (default: users) is usable; others may not be.
func (t *target) authServer(ctx context.Context, issuerFlag, provider string) (*authserver.Server, error) {
	if provider == "" {
		provider = authserver.DefaultProvider
	}
	providers, err := t.providers(ctx, provider)
	if err != nil {
		return nil, err
	}
	defs := make([]scopes.Definition, 0, len(t.server.Scopes))
	for _, s := range t.server.Scopes {
		defs = append(defs, scopes.Definition{Name: s.Name, Description: s.Description})
	}
	cat, err := scopes.NewCatalog(defs, t.server.DefaultScope)
	if err != nil {
		return nil, err
	}
	ring := &keys.Ring{}
	if t.server.KeysDir != "" {
		rec, err := keys.LoadDir(t.server.KeysDir)
		if err != nil {
			return nil, err
		}
		if err := ring.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
			return nil, err
		}
	} else if err := keys.Bootstrap(ctx, t.store, ring, t.alg(), time.Hour); err != nil {
		return nil, err
	}
	issuer := issuerFlag
	if issuer == "" {
		issuer = caddy.NewReplacer().ReplaceKnown(t.server.Issuer, "")
	}
	return authserver.New(authserver.Config{
		Issuer:           issuer,
		Audience:         t.server.Audience,
		Store:            t.store,
		Keys:             ring,
		Scopes:           cat,
		AccessTokenTTL:   time.Duration(t.server.AccessTokenTTL),
		RefreshTokenTTL:  time.Duration(t.server.RefreshTokenTTL),
		PersonalTokenTTL: time.Duration(t.server.PersonalTokenTTL),
		Providers:        providers,
	})
}
