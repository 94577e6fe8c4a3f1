// Package postgres implements store.Store on PostgreSQL with pgx (pgxpool).
//
// The store lives in the first schema of the connection's search_path, so a DSN such as
// postgres://host/db?search_path=oauth puts it in schema oauth (which must exist), and
// one database can hold several stores.
//
// Design:
//
//   - Every operation that can be one statement is one statement, and so one round trip
//     and its own transaction: issuing a token with its refresh token is an INSERT with
//     the other INSERT in a WITH clause (and concurrent issuances are sent together, one
//     batch and one commit for all, see batch.go); rotating a refresh token, exchanging a code and
//     revoking are UPDATEs whose WITH clauses do the rest. pgx prepares and caches each
//     statement per connection.
//   - The one-use rules rest on conditional updates (UPDATE ... WHERE NOT revoked): under
//     READ COMMITTED a second concurrent updater waits for the first, re-reads the row,
//     sees it revoked and updates nothing, so exactly one caller wins.
//   - Statements touching both token tables lock refresh tokens before access tokens,
//     so that concurrent revocations do not deadlock; a single statement that still
//     loses a deadlock had no effect and is retried.
//   - Signing-key changes run in a transaction holding a transaction-scoped advisory lock
//     (pg_advisory_xact_lock) keyed by database and schema, so nodes starting together
//     create one key, and a partial unique index refuses a second current key anyway.
//   - Revocations run in a transaction that also appends the revoked access tokens to
//     the revocation log, under an advisory lock so entries become visible in seq order,
//     and NOTIFYs a per-schema channel; a dedicated LISTEN connection, opened on first
//     use, wakes the revocation feed's waiters on every node (revocations.go, listen.go).
//   - The schema is migrated on Open with golang-migrate (see migrate.go).
//
// Beyond store.go, the driver follows the shared rules of store/rules.go (times filled,
// refresh tokens linked, refusals mapped to store.ErrNotFound and store.ErrConflict);
// empty lists read back as nil; times read back in UTC.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/groupcommit"
)

// Store is a store.Store on a Postgres schema. It is safe for concurrent use, and any
// number of processes may share the schema.
type Store struct {
	pool *pgxpool.Pool
	// keyLock is the advisory lock key serialising signing-key changes in this schema.
	keyLock int64
	// logLock is the advisory lock key serialising revocation log writers in this schema.
	logLock int64
	// channel is the NOTIFY channel of this schema's revocation log.
	channel string
	// connConfig opens the listener's own connection.
	connConfig *pgx.ConnConfig
	listener   revocationListener
	// batcher gathers concurrent CreateAccessToken calls into one commit (batch.go).
	issuer *groupcommit.Queue[tokenPair]
	// assertions gathers concurrent UseClientAssertion calls into one commit
	// (client_assertions.go).
	assertions *groupcommit.Queue[assertionUse]
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (a postgres:// URL or a keyword/value
// string, with any pgx or pgxpool option such as pool_max_conns or search_path) and
// migrates the schema to the latest version.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the DSN with any password masked.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migrateUp(ctx, cfg.ConnConfig); err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	var db, schema string
	if err := pool.QueryRow(ctx, `SELECT current_database(), current_schema()`).Scan(&db, &schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	// Keys and the channel name are per database and schema: one database may hold
	// several stores.
	hash := func(what string) uint64 {
		h := fnv.New64a()
		fmt.Fprintf(h, "caddy-oauth %s\x00%s\x00%s", what, db, schema)
		return h.Sum64()
	}
	s := &Store{
		pool:       pool,
		keyLock:    int64(hash("signing keys")),
		logLock:    int64(hash("revocation log")),
		channel:    fmt.Sprintf("caddy_oauth_revocations_%016x", hash("revocation channel")),
		connConfig: cfg.ConnConfig,
	}
	s.startBatcher()
	return s, nil
}

// Close stops the token writers after the batches they are writing, then closes the
// pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.stopBatcher()
	s.stopListener()
	s.pool.Close()
	return nil
}

// wrapErr says what was being done, and maps the database's refusals to the store's
// sentinel errors (store.WrapError).
func wrapErr(op string, err error) error { return store.WrapError("postgres", op, err, refusal) }

// refusal names what PostgreSQL refused with: no row, a duplicate key, or a missing
// client (the only foreign key).
func refusal(err error) store.Refusal {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RefusedNoRow
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case pgerrcode.UniqueViolation:
			return store.RefusedDuplicate
		case pgerrcode.ForeignKeyViolation:
			return store.RefusedNoClient
		}
	}
	return store.NotRefused
}

// retry runs fn, a single statement or a whole transaction, again when Postgres aborted
// it to break a deadlock or a serialization conflict; the aborted attempt had no effect.
func retry(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		var pe *pgconn.PgError
		if err == nil || attempt == 3 || !errors.As(err, &pe) ||
			(pe.Code != pgerrcode.DeadlockDetected && pe.Code != pgerrcode.SerializationFailure) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
}

// list passes a list as text[]: pgx sends a nil slice as NULL, which NOT NULL refuses.
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// readList returns nil for an empty list, as the SQLite driver does.
func readList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// utc converts a time read from the database, which pgx returns in the local zone.
func utc(t *time.Time) {
	*t = t.UTC()
}

// oneRow turns "no row changed" into store.ErrNotFound.
func oneRow(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// isNoRows reports whether err is pgx.ErrNoRows.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// notFound maps a key the database cannot hold to store.ErrNotFound, for lookups. A key
// PostgreSQL cannot even compare (NUL, invalid UTF-8) names no row: looked up with a
// caller's garbage it is "not found", as on SQLite, not a database failure. (No row at
// all is mapped by wrapErr, for every operation.)
func notFound(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == pgerrcode.CharacterNotInRepertoire || pe.Code == pgerrcode.UntranslatableCharacter) {
		return store.ErrNotFound
	}
	return err
}
