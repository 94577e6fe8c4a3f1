package caddymodule

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// UserProviderConfig is one user provider: who may log in, and how passwords are checked.
type UserProviderConfig struct {
	// Name is what clients (`provider`) and tokens (the `provider` claim) call the provider.
	// Default: users, the provider of clients that name none.
	Name string `json:"name,omitempty"`

	// Kind is "builtin" (the users kept in the store, managed by `caddy oauth user`) or
	// "sql" (an existing application's user table).
	Kind string `json:"kind"`

	// Database is the application database a sql provider reads. Default: the
	// oauth_server's own storage (its driver and DSN).
	Database *StorageConfig `json:"database,omitempty"`

	// Query finds a user of a sql provider by username ($1, the string typed at login) and
	// returns two columns: the user's id and password hash (bcrypt $2y$/$2a$/$2b$ or
	// argon2id). Default: SELECT id, password FROM users WHERE email = $1 (a Laravel
	// application's users table).
	Query string `json:"query,omitempty"`
}

// ProviderName is the configured name, or the default provider's.
func (u UserProviderConfig) ProviderName() string {
	if u.Name == "" {
		return authserver.DefaultProvider
	}
	return u.Name
}

// userDBPool shares application databases across config reloads and providers.
var userDBPool = caddy.NewUsagePool()

// userDBHandle is a pooled application database.
type userDBHandle struct{ *sql.DB }

// Destruct closes the database when no config uses it any more.
func (h userDBHandle) Destruct() error { return h.Close() }

// provisionProviders builds the user providers. storage is the server's own driver and
// DSN, used by sql providers that name no database. The keys of the pooled databases
// are returned for Cleanup.
func (s *Server) provisionProviders(ctx context.Context, st store.Store, driver, dsn string, repl *caddy.Replacer) (map[string]authserver.UserProvider, []string, error) {
	providers := map[string]authserver.UserProvider{}
	var keys []string
	release := func() {
		for _, k := range keys {
			_, _ = userDBPool.Delete(k)
		}
	}
	for i, u := range s.Users {
		name := u.ProviderName()
		if _, dup := providers[name]; dup {
			release()
			return nil, nil, fmt.Errorf("oauth_server: users %s (#%d): a provider of this name is already configured", name, i+1)
		}
		switch u.Kind {
		case "builtin", "":
			providers[name] = authserver.NewBuiltinUsers(st)
		case "sql":
			dbDriver, dbDSN := driver, dsn
			if u.Database != nil {
				dbDriver, dbDSN = u.Database.Driver, repl.ReplaceKnown(u.Database.DSN, "")
			}
			if dbDSN == "" {
				release()
				return nil, nil, fmt.Errorf("oauth_server: users %s sql: database %s: a connection string is required", name, dbDriver)
			}
			key := "users:" + storageKey(dbDriver, dbDSN)
			val, _, err := userDBPool.LoadOrNew(key, func() (caddy.Destructor, error) {
				db, err := authserver.OpenUserDB(dbDriver, dbDSN)
				if err != nil {
					return nil, err
				}
				return userDBHandle{db}, nil
			})
			if err != nil {
				release()
				return nil, nil, fmt.Errorf("oauth_server: users %s sql: database: %w", name, err)
			}
			keys = append(keys, key)
			p, err := authserver.NewSQLUsers(ctx, val.(userDBHandle).DB, u.Query)
			if err != nil {
				release()
				return nil, nil, fmt.Errorf("oauth_server: users %s sql: %w", name, err)
			}
			providers[name] = p
		default:
			release()
			return nil, nil, fmt.Errorf("oauth_server: users %s: kind %q: must be builtin or sql", name, u.Kind)
		}
	}
	if _, ok := providers[authserver.DefaultProvider]; !ok {
		providers[authserver.DefaultProvider] = authserver.NewBuiltinUsers(st)
	}
	for _, c := range s.Clients {
		if c.Provider != "" {
			if _, ok := providers[c.Provider]; !ok {
				release()
				return nil, nil, fmt.Errorf("oauth_server: client %q: provider %q is not configured (add `users %s builtin|sql`)", c.ID, c.Provider, c.Provider)
			}
		}
	}
	return providers, keys, nil
}
