// Package testdb gives tests a private database: a fresh Postgres schema or an SQLite
// file in a temporary directory, each removed when the test ends.
//
// Postgres tests need a running server. Locally they are skipped when it is unreachable,
// so `go test` works on a laptop without one; under CI=true they fail instead, because a
// silently skipped Postgres suite would let a broken driver through.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgresURL is the server tests use unless OAUTH_TEST_POSTGRES names another.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresEnv is the environment variable that overrides DefaultPostgresURL. It takes a
// postgres:// URL or a keyword/value DSN.
const PostgresEnv = "OAUTH_TEST_POSTGRES"

// PostgresDSN creates a uniquely named schema, returns a DSN whose search_path is that
// schema, and drops the schema (CASCADE) when the test ends. Stores opened on the DSN
// should be closed first; t.Cleanup runs in reverse order, so closing them in a cleanup
// registered after calling PostgresDSN does that.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		base = DefaultPostgresURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		unavailable(t, fmt.Errorf("connect to Postgres (set %s to use another server): %w", PostgresEnv, err))
		return ""
	}
	defer conn.Close(context.Background())

	schema := schemaName(t.Name())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("testdb: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
		}
	})
	dsn, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	return dsn
}

// unavailable skips the test, or fails it under CI.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("testdb: %v (CI=true: Postgres tests must not be skipped)", err)
	}
	t.Skipf("testdb: skipping: %v", err)
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// schemaName makes a schema name from the test name, readable when looking at a leftover
// schema, and unique through a random suffix. Postgres truncates identifiers at 63 bytes.
func schemaName(testName string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	name := unsafeChars.ReplaceAllString(strings.ToLower(testName), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	return "t_" + name + "_" + hex.EncodeToString(b[:])
}

// withSearchPath adds search_path to a URL or keyword/value DSN. pgx sends parameters it
// does not know, such as search_path, to the server as session settings.
func withSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", PostgresEnv, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil
}

// SQLitePath returns the path of a not yet existing database file in a directory removed
// when the test ends.
func SQLitePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "oauth.db")
}
