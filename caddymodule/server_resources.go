package caddymodule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/keyseal"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// serverResources opens what an oauth_server uses beyond its settings: the store, the
// signing keys and the application databases of sql user providers. Provision opens them
// through the usage pools (pooledResources), shared across config reloads and released
// at Cleanup; the command line opens its own (directResources), closed when the command
// ends. Both hand them to serverConfig, the one path from settings to a server.
type serverResources interface {
	openStore(ctx context.Context, loc storageLocation) (store.Store, error)
	openRing(ctx context.Context, st store.Store, set *serverSettings) (*keys.Ring, error)
	openUserDB(loc storageLocation) (*sql.DB, error)
	// release gives back everything opened, going on past a failure.
	release() error
}

// loadRing loads the signing keys: the access-token key from the PEM content or folder if
// the settings name one, else from the store, making a key of the configured algorithm if
// it holds none; the ID-token keys always from the store (made if missing), since a PEM
// folder holds one key and OpenID Connect needs an RS256 one whatever signs access tokens.
func loadRing(ctx context.Context, st store.KeyStore, set *serverSettings) (*keys.Ring, error) {
	ring := &keys.Ring{}
	if set.keysDir != "" || set.keyPEM != nil {
		rec := set.keyPEM
		if rec == nil {
			var err error
			if rec, err = keys.LoadDir(set.keysDir); err != nil {
				return nil, err
			}
		}
		if err := keys.EnsureKey(ctx, st, store.KeyPurposeIDToken, keys.IDTokenAlg); err != nil {
			return nil, err
		}
		list, err := st.ListSigningKeys(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing signing keys: %w", err)
		}
		recs := []*store.SigningKey{rec}
		for _, k := range list {
			if k.KeyPurpose() == store.KeyPurposeIDToken {
				recs = append(recs, k)
			}
		}
		if err := ring.Load(recs, set.keyRetention, time.Now()); err != nil {
			return nil, err
		}
		return ring, nil
	}
	if err := keys.Bootstrap(ctx, st, ring, set.signingAlg, set.keyRetention); err != nil {
		return nil, err
	}
	return ring, nil
}

// openStorage opens the store the settings name.
func openStorage(ctx context.Context, set *serverSettings, res serverResources) (store.Store, error) {
	st, err := res.openStore(ctx, set.storage)
	if err != nil {
		return nil, fmt.Errorf("storage %s: %w", set.storage.driver, err)
	}
	// Signing keys go in sealed and come out opened (key_encryption_key); with none, a
	// sealed key stops the start.
	return keyseal.Store(st, set.sealer), nil
}

// serverConfig builds the protocol server's configuration from the settings, on the
// store st, opening the signing keys and user databases through res. openSQL says which
// sql providers to open (nil: all); the command line opens only the one a command is
// about, so it does not depend on another's database being up. What only a running Caddy
// has (logger, events, metrics, client IP) the caller adds.
func serverConfig(ctx context.Context, set *serverSettings, st store.Store, res serverResources, openSQL func(provider string) bool) (authserver.Config, error) {
	ring, err := res.openRing(ctx, st, set)
	if err != nil {
		return authserver.Config{}, fmt.Errorf("keys: %w", err)
	}
	providers, err := userProviders(ctx, set, st, res, openSQL)
	if err != nil {
		return authserver.Config{}, err
	}
	return authserver.Config{
		Issuer:               set.issuer,
		Audience:             set.audience,
		Store:                st,
		Keys:                 ring,
		Scopes:               set.scopes,
		AccessTokenTTL:       set.accessTTL,
		RefreshTokenTTL:      set.refreshTTL,
		PersonalTokenTTL:     set.personalTTL,
		SessionTTL:           set.sessionTTL,
		DeviceCodeTTL:        set.deviceCodeTTL,
		DevicePollInterval:   set.devicePollInterval,
		ImplicitGrant:        set.implicitGrant,
		Providers:            providers,
		LoginThrottle:        set.loginThrottle,
		FreshAPITokenCookie:  set.freshAPITokenCookie,
		Pages:                set.pages,
		RevokePreviousTokens: set.revokePreviousTokens,
		RequireDPoPNonce:     set.requireDPoPNonce,
		PassportAppKey:       set.passportAppKey,
		TokenRateLimit:       &set.tokenRateLimit,
		TLSClientAuthCAs:     set.tlsClientAuthCAs,
	}, nil
}

// userProviders builds the user providers the settings name.
func userProviders(ctx context.Context, set *serverSettings, st store.Store, res serverResources, openSQL func(string) bool) (map[string]authserver.UserProvider, error) {
	providers := make(map[string]authserver.UserProvider, len(set.users))
	for _, u := range set.users {
		if u.kind == "builtin" {
			providers[u.name] = authserver.NewBuiltinUsers(st)
			continue
		}
		if openSQL != nil && !openSQL(u.name) {
			continue
		}
		db, err := res.openUserDB(u.database)
		if err != nil {
			return nil, fmt.Errorf("users %s sql: database: %w", u.name, err)
		}
		p, err := authserver.NewSQLUsers(ctx, db, u.query)
		if err != nil {
			return nil, fmt.Errorf("users %s sql: %w", u.name, err)
		}
		if u.claimsQuery != "" {
			// The default query fits Laravel's users table; another table without those
			// columns simply has no claims beyond sub.
			if err := p.WithClaims(ctx, u.claimsQuery); err != nil && !u.claimsDefault {
				return nil, fmt.Errorf("users %s sql: claims_query: %w", u.name, err)
			}
		}
		if u.nameQuery == "" {
			providers[u.name] = p
			continue
		}
		named, err := p.WithUsernames(ctx, u.nameQuery)
		if err != nil {
			return nil, fmt.Errorf("users %s sql: username_query: %w", u.name, err)
		}
		providers[u.name] = named
	}
	return providers, nil
}

// directResources opens an oauth_server's resources for one command line run: nothing
// is shared, the keys are not followed (the command ends first), and release closes all.
type directResources struct {
	closers []func() error
}

func (d *directResources) openStore(ctx context.Context, loc storageLocation) (store.Store, error) {
	st, err := drivers.Open(ctx, loc.driver, loc.dsn)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, st.Close)
	return st, nil
}

func (d *directResources) openRing(ctx context.Context, st store.Store, set *serverSettings) (*keys.Ring, error) {
	return loadRing(ctx, st, set)
}

func (d *directResources) openUserDB(loc storageLocation) (*sql.DB, error) {
	db, err := authserver.OpenUserDB(loc.driver, loc.dsn)
	if err != nil {
		return nil, err
	}
	d.closers = append(d.closers, db.Close)
	return db, nil
}

// release closes everything opened, the last opened first.
func (d *directResources) release() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	d.closers = nil
	return errors.Join(errs...)
}

// Interface guards.
var (
	_ serverResources = (*pooledResources)(nil)
	_ serverResources = (*directResources)(nil)
)
