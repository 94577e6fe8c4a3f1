// Package drivers opens a store.Store by driver name, so that the Caddyfile, the CLI and
// tests name a database with one string and need not import every driver themselves.
package drivers

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/postgres"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

// Driver names accepted by Open.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Open opens the store of the named driver: for "sqlite", dsn is a file path; for
// "postgres", a postgres:// URL or keyword/value connection string.
func Open(ctx context.Context, driver, dsn string) (store.Store, error) {
	if dsn == "" {
		return nil, fmt.Errorf("store: empty %s data source", driver)
	}
	switch driver {
	case SQLite:
		s, err := sqlite.Open(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return s, nil
	case Postgres:
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return s, nil
	default:
		return nil, fmt.Errorf("store: unknown driver %q (want %q or %q)", driver, SQLite, Postgres)
	}
}

// ParseSpec splits a database spec as written on the command line or in the Caddyfile:
//
//	sqlite:<file>                   e.g. sqlite:/var/lib/caddy/oauth.db
//	postgres:<dsn>                  e.g. postgres:host=db dbname=oauth
//	postgres:postgres://...         the DSN may itself be a URL
//	postgres://... or postgresql://...   a Postgres URL alone
//
// The error names the driver part only, never the DSN, which may hold a password.
func ParseSpec(spec string) (driver, dsn string, err error) {
	if spec == "" {
		return "", "", errors.New("store: empty database spec; want sqlite:<file> or postgres:<dsn>")
	}
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		return Postgres, spec, nil
	}
	name, rest, ok := strings.Cut(spec, ":")
	if !ok {
		if strings.ContainsAny(spec, "= @") {
			// A key=value DSN ("host=db password=...") lands here: not quoted.
			return "", "", errors.New("store: database spec has no driver; want sqlite:<file> or postgres:<dsn>")
		}
		return "", "", fmt.Errorf("store: database spec %q has no driver; want sqlite:<file> or postgres:<dsn>", spec)
	}
	switch strings.ToLower(name) {
	case "sqlite", "sqlite3":
		driver = SQLite
	case "postgres", "postgresql":
		driver = Postgres
	default:
		return "", "", fmt.Errorf("store: unknown database driver %q; want sqlite:<file> or postgres:<dsn>", name)
	}
	if strings.TrimSpace(rest) == "" {
		what := "file path"
		if driver == Postgres {
			what = "connection string"
		}
		return "", "", fmt.Errorf("store: database spec %q lacks the %s after the colon", spec, what)
	}
	return driver, rest, nil
}
