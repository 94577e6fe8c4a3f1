package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrationFS holds the schema migrations in golang-migrate's naming: NNNN_name.up.sql,
// and .down.sql for operators using the migrate CLI (Open never migrates down).
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrateUp applies pending migrations with golang-migrate's pgx/v5 driver, on one
// connection opened with the store's own configuration, so the DSN's search_path
// decides where both the tables and the schema_migrations bookkeeping table go.
//
// It is safe for several processes opening one empty schema at once: the driver holds
// a session advisory lock (keyed by database, schema and table name) while it creates
// schema_migrations and while it reads the version and runs migrations, so the others
// wait and then find nothing to do. Each migration file runs as one multi-statement
// query, which Postgres executes in one implicit transaction: a failing migration leaves
// no half-made schema behind (though golang-migrate then marks the version dirty).
func migrateUp(ctx context.Context, cc *pgx.ConnConfig) (err error) {
	db := stdlib.OpenDB(*cc.Copy())
	defer func() {
		// Closing the migrate instance also closes db; closing twice is harmless.
		if cerr := db.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	db.SetMaxOpenConns(2)

	// golang-migrate needs a schema to put schema_migrations in, and reports a missing
	// one obscurely (a NULL scanned into a string), so check first.
	var schema *string
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if schema == nil {
		var sp string
		_ = db.QueryRowContext(ctx, `SHOW search_path`).Scan(&sp)
		return fmt.Errorf("no schema of search_path %q exists; create it first", sp)
	}

	drv, err := pgxmigrate.WithInstance(db, &pgxmigrate.Config{})
	if err != nil {
		return fmt.Errorf("prepare schema_migrations in schema %q: %w", *schema, err)
	}
	src, err := iofs.New(migrationFS, "migrations")
	if err != nil {
		drv.Close()
		return fmt.Errorf("read embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		src.Close()
		drv.Close()
		return err
	}
	defer func() {
		srcErr, dbErr := m.Close()
		if err == nil {
			err = errors.Join(srcErr, dbErr)
		}
	}()

	// golang-migrate takes no context; ask it to stop between migrations if ctx ends.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			m.GracefulStop <- true
		case <-done:
		}
	}()

	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("schema %q: %w", *schema, err)
	}
	return ctx.Err()
}
