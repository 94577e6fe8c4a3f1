package caddymodule

import (
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/appdb"
	"github.com/caddyoauth/caddy-oauth/validator"
)

// PassportRevocationsConfig points the guard at a Laravel application's database to
// follow the tokens Passport revokes.
type PassportRevocationsConfig struct {
	// Driver is "mysql" (MySQL or MariaDB), "postgres" or "sqlite". Required.
	Driver string `json:"driver"`
	// DSN is the database: a mysql://user:pass@host:port/db URL or the driver's DSN, a
	// PostgreSQL URL or keyword/value string, or an SQLite file. Use a placeholder such as
	// {env.LARAVEL_DB_URL}; read-only credentials suffice. Required.
	DSN string `json:"dsn"`
	// Interval between reads of newly revoked tokens. Default: 500ms.
	Interval caddy.Duration `json:"interval,omitempty"`
}

// passportPool shares one follower per (database, interval) across guards and reloads.
var passportPool = caddy.NewUsagePool()

// passportHandle is a pooled follower with the database it reads.
type passportHandle struct {
	p  *validator.PassportRevocations
	db *sql.DB
}

// Destruct stops the follower and closes its database.
func (h passportHandle) Destruct() error {
	guardMetrics().live.removeFeed(h.p)
	h.p.Close()
	return h.db.Close()
}

// provisionPassportRevocations checks the options and joins (or starts) the follower.
func (g *Guard) provisionPassportRevocations(repl *caddy.Replacer) error {
	pc := g.PassportRevocations
	driver, dsn := pc.Driver, repl.ReplaceKnown(pc.DSN, "")
	switch {
	case driver != appdb.MySQL && driver != appdb.Postgres && driver != appdb.SQLite:
		return fmt.Errorf("oauth_guard: passport_revocations: driver %q: must be mysql, postgres or sqlite", driver)
	case dsn == "":
		return fmt.Errorf("oauth_guard: passport_revocations %s: a database is required (is the environment variable set?)", driver)
	case pc.Interval < 0:
		return fmt.Errorf("oauth_guard: passport_revocations: interval must not be negative")
	}
	interval := time.Duration(pc.Interval)
	// The DSN holds a password: the pool key and the metric label carry a digest or the
	// driver, never the DSN.
	key := strings.Join([]string{driver, secretKey(dsn), interval.String()}, "|")
	label := "passport:" + driver
	logger := g.logger
	val, _, err := passportPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		db, err := appdb.Open(driver, dsn)
		if err != nil {
			return nil, err
		}
		p, err := validator.NewPassportRevocations(validator.PassportRevocationsOptions{
			DB: db, Driver: driver, Interval: interval,
			OnBehind: func(out time.Duration, err error) {
				logger.Warn("Laravel database unreachable; tokens Passport revokes meanwhile are not known here yet (those known stay refused)",
					zap.String("driver", driver), zap.Duration("for", out), zap.Error(err))
			},
			OnCaughtUp: func(out time.Duration) {
				logger.Info("Laravel database reachable again", zap.String("driver", driver), zap.Duration("was_out", out))
			},
		})
		if err != nil {
			db.Close()
			return nil, err
		}
		guardMetrics().live.addFeed(p, label)
		return passportHandle{p: p, db: db}, nil
	})
	if err != nil {
		return fmt.Errorf("oauth_guard: passport_revocations %s: %w", driver, err)
	}
	g.passKey = key
	g.passport = val.(passportHandle).p
	return nil
}

// revocationLists are the lists of revoked ids the guard consults.
func (g *Guard) revocationLists() []validator.RevocationList {
	var out []validator.RevocationList
	if g.feed != nil {
		out = append(out, g.feed)
	}
	if g.passport != nil {
		out = append(out, g.passport)
	}
	return out
}
