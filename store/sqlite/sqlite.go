// Package sqlite implements store.Store on a single SQLite file with modernc.org/sqlite,
// a pure-Go SQLite, so the plugin builds without cgo like the rest of Caddy.
//
// How the file is used, and why:
//
//   - Writes go through a pool of exactly one connection. SQLite admits one writer at a
//     time whatever the pool size; with several writing connections in one process they
//     collide on the file lock, and SQLite's busy handler then sleeps for milliseconds at
//     a time, which caps throughput at a few hundred writes a second. Queuing writers on
//     Go's pool instead costs microseconds. Plain reads use a separate pool of query_only
//     connections, which WAL lets run alongside the writer.
//   - Write transactions begin IMMEDIATE (_txlock=immediate): a transaction that reads and
//     then writes holds the write lock from BEGIN, so it can never fail to upgrade a read
//     lock (an SQLITE_BUSY that busy_timeout cannot resolve) while another process writes.
//     busy_timeout covers the remaining waits between processes sharing the file.
//   - journal_mode=WAL with synchronous=NORMAL: a commit appends to the WAL without an
//     fsync, which is what makes thousands of small writes a second possible. A power
//     loss can lose the last commits but never corrupts the database; losing a token that
//     was just issued only forces its client to authenticate again. Only checkpoints
//     fsync, so wal_autocheckpoint is raised from 1,000 to 10,000 pages (a WAL of about
//     40 MB): a tenth of the syncs, and pages changed repeatedly are copied back once.
//     Measured with the batching of batch.go, this took issuance from about 2,000 to
//     about 5,000 tokens a second on two cores.
//   - foreign_keys=ON makes issuing a token or code to an unknown client fail.
//   - Concurrent CreateAccessToken calls are committed together (batch.go).
//   - Revocations append the revoked access tokens to the revocation log in the same
//     transaction and wake this process's feed waiters after the commit (revocations.go).
//   - The schema is migrated on Open by the small runner of migrate.go rather than by
//     golang-migrate, whose SQLite driver is not safe for processes opening a new file
//     at once (see migrateUp).
//
// Stored forms: times are TEXT in the fixed-width UTC form 2006-01-02T15:04:05.000000Z
// (microseconds, like Postgres, so both drivers return the same instants, and comparing
// the strings compares the times); lists are JSON arrays; booleans are 0/1.
//
// Beyond store.go, the driver follows the shared rules of store/rules.go (times filled,
// refresh tokens linked, refusals mapped to store.ErrNotFound and store.ErrConflict);
// empty lists read back as nil.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/groupcommit"
)

// busyTimeoutMS is how long a connection waits for another process to release the file
// lock before failing with SQLITE_BUSY.
const busyTimeoutMS = 5000

// timeLayout is the stored form of every time: fixed width, so string order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Store is a store.Store on one SQLite file. It is safe for concurrent use, and several
// processes may open the same file.
type Store struct {
	w *sql.DB // exactly one connection: every write and read-then-write transaction
	r *sql.DB // query_only connections for plain reads

	// Statements of the hot token-issuing path, prepared once on the writer connection.
	insertAccess, insertRefresh    *sql.Stmt
	savepoint, rollbackTo, release *sql.Stmt

	// issuer gathers concurrent CreateAccessToken calls into one commit (batch.go).
	issuer *groupcommit.Queue[tokenPair]
	// assertions gathers concurrent UseClientAssertion calls into one commit
	// (client_assertions.go).
	assertions *groupcommit.Queue[assertionUse]

	// revocations wakes the revocation feed's waiters after a revocation commits.
	revocations store.Signal

	// closeOnce makes Close idempotent: the pools must be closed once.
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it and its parent directory if missing) the SQLite database at
// path and migrates its schema to the latest version.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	// Two pools must see one database, so an in-memory database cannot work; and modernc
	// reads whatever follows '?' as connection options rather than as part of the name.
	if path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?") {
		return nil, fmt.Errorf("sqlite: database path %q must be a plain file path (no ':memory:', 'file:' URI or '?')", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: resolve database path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create directory for database %q: %w", abs, err)
	}
	// The file holds private signing keys and secret hashes, so create it readable by
	// its owner only (SQLite would use 0644); SQLite gives the -wal and -shm files it
	// creates next to it the same mode. An empty file is a valid empty database.
	switch f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); {
	case err == nil:
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("sqlite: create database %q: %w", abs, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("sqlite: create database %q: %w", abs, err)
	}

	w, err := sql.Open("sqlite", dsn(abs, "journal_mode(WAL)", "synchronous(NORMAL)",
		"foreign_keys(1)", "wal_autocheckpoint(10000)")+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", abs, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := retryBusy(ctx, func() error { return migrateUp(ctx, w) }); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: migrate %q: %w", abs, err)
	}

	r, err := sql.Open("sqlite", dsn(abs, "query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %q for reading: %w", abs, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(5 * time.Minute)

	s := &Store{w: w, r: r}
	if err := s.prepareBatchStatements(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", abs, err)
	}
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %q for reading: %w", abs, err)
	}
	s.startBatcher()
	return s, nil
}

// retryBusy runs fn again while it fails with SQLITE_BUSY, for up to busyTimeoutMS.
//
// When several processes open one new file at once, one of them turns it into a WAL
// database while the others may still see a rollback-journal file; in that window
// SQLite can answer BEGIN with SQLITE_BUSY at once instead of calling the busy handler
// (about 2% of opens in TestConcurrentOpensOfOneNewFileAllSucceed). Retrying is safe:
// migrateUp rolls back on failure and rechecks the version.
func retryBusy(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(busyTimeoutMS * time.Millisecond)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := fn()
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// dsn builds a modernc DSN for path. busy_timeout is always set; modernc applies it
// before the other pragmas, so setting journal_mode already waits for other processes.
func dsn(path string, pragmas ...string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return path + "?" + q.Encode()
}

// Close stops the batcher and closes both pools; the store must not be used afterwards.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

// close does Close's work, once.
func (s *Store) close() error {
	s.stopBatcher()
	var errs []error
	for _, st := range []*sql.Stmt{s.insertAccess, s.insertRefresh, s.savepoint, s.rollbackTo, s.release} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	errs = append(errs, s.r.Close(), s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// inTx runs fn in a write transaction (BEGIN IMMEDIATE) on the writer connection. fn must
// use only tx: the writer pool has one connection, which tx holds.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// wrapErr says what was being done, and maps the database's refusals to the store's
// sentinel errors (store.WrapError).
func wrapErr(op string, err error) error { return store.WrapError("sqlite", op, err, refusal) }

// refusal names what SQLite refused with: no row, a duplicate key, or a missing client
// (the only foreign key).
func refusal(err error) store.Refusal {
	if errors.Is(err, sql.ErrNoRows) {
		return store.RefusedNoRow
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return store.RefusedDuplicate
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return store.RefusedNoClient
		}
	}
	return store.NotRefused
}

// rowsAffected returns how many rows a statement changed.
func rowsAffected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

// encodeList stores a list as a JSON array, which round-trips any string.
func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil { // cannot happen for []string
		panic(err)
	}
	return string(b)
}

func decodeList(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("stored list %q: %w", s, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// timeCol scans a stored time (text in timeLayout) straight into *t, so scanners need no
// parse step after Scan.
type timeCol struct{ t *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(src any) error {
	raw, err := columnText(src)
	if err != nil {
		return err
	}
	*c.t, err = parseTime(raw)
	return err
}

// listCol scans a stored list (a JSON array) straight into *l.
type listCol struct{ l *[]string }

// Scan implements sql.Scanner.
func (c listCol) Scan(src any) error {
	raw, err := columnText(src)
	if err != nil {
		return err
	}
	*c.l, err = decodeList(raw)
	return err
}

// columnText is a TEXT column's value as the driver hands it over.
func columnText(src any) (string, error) {
	switch v := src.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", fmt.Errorf("stored value of type %T where text was expected", src)
}
