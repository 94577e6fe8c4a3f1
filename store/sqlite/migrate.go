package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
)

// migrationFS holds the schema migrations, named like golang-migrate's: NNNN_name.up.sql
// (and .down.sql, kept for operators using the migrate CLI; Open never runs them).
//
//go:embed migrations/*.sql
var migrationFS embed.FS

var migrationName = regexp.MustCompile(`^([0-9]+)_[^/]*\.up\.sql$`)

type migration struct {
	version uint64
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		v, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrateUp brings the schema to the latest embedded migration.
//
// This small runner is used instead of golang-migrate, whose SQLite driver is not safe
// for several processes opening one new database file at once: it locks only within one
// process, and reads the version, runs a migration and records the version in separate
// transactions. Opening a fresh file from four processes at once failed in about half
// of the attempts, with "table clients already exists" or with the database left "dirty".
// Here the version check, every pending migration and the version update run in one
// BEGIN IMMEDIATE transaction (SQLite DDL is transactional), so a second process waits
// for the first and then finds nothing to do, and a failed migration leaves no trace.
// The bookkeeping table has golang-migrate's layout, so its CLI can still inspect a
// database.
func migrateUp(ctx context.Context, db *sql.DB) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if len(ms) == 0 {
		return errors.New("no migrations embedded")
	}
	latest := ms[len(ms)-1].version

	tx, err := db.BeginTx(ctx, nil) // IMMEDIATE: the writer DSN sets _txlock
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	if _, err := tx.ExecContext(ctx, `
		CREATE TABLE IF NOT EXISTS schema_migrations (version uint64, dirty bool);
		CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON schema_migrations (version);`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	current, applied := uint64(0), false
	var dirty bool
	switch err := tx.QueryRowContext(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&current, &dirty); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	default:
		applied = true
	}
	if dirty {
		return fmt.Errorf("schema version %d is marked dirty (a migration failed part-way); repair the database and clear the flag", current)
	}
	if applied && current > latest {
		return fmt.Errorf("schema version %d is newer than this build knows (%d); run a newer build", current, latest)
	}
	if applied && current == latest {
		return nil
	}
	for _, m := range ms {
		if applied && m.version <= current {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("apply %s: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_migrations`); err != nil {
		return fmt.Errorf("record schema version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, dirty) VALUES (?, 0)`, latest); err != nil {
		return fmt.Errorf("record schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migrations: %w", err)
	}
	return nil
}
