package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// fakeTB records how PostgresDSN ends a test, without ending the real one.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper()        {}
func (f *fakeTB) Name() string   { return "TestFake" }
func (f *fakeTB) Cleanup(func()) {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func runFake(f *fakeTB) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		PostgresDSN(f)
	}()
	<-done
}

func TestUnreachablePostgresSkipsLocallyAndFailsUnderCI(t *testing.T) {
	t.Setenv(PostgresEnv, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")

	t.Setenv("CI", "")
	local := &fakeTB{}
	runFake(local)
	if !local.skipped || local.failed {
		t.Fatalf("without CI: skipped=%v failed=%v (%s); want a skip", local.skipped, local.failed, local.msg)
	}

	t.Setenv("CI", "true")
	ci := &fakeTB{}
	runFake(ci)
	if !ci.failed || ci.skipped {
		t.Fatalf("with CI=true: skipped=%v failed=%v (%s); want a failure", ci.skipped, ci.failed, ci.msg)
	}
	if !strings.Contains(ci.msg, PostgresEnv) {
		t.Fatalf("failure %q does not say how to point at another server", ci.msg)
	}
}

func TestPostgresDSNGivesAFreshSchemaDroppedAfterTheTest(t *testing.T) {
	var schema string
	t.Run("inner", func(t *testing.T) {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(schema, "t_testpostgresdsn") {
			t.Fatalf("schema %q not named after the test", schema)
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, schema).Scan(&n); err != nil || n != 0 {
			t.Fatalf("fresh schema has %d tables (%v)", n, err)
		}
	})
	if schema == "" {
		t.Skip("inner test skipped")
	}
	base := os.Getenv(PostgresEnv)
	if base == "" {
		base = DefaultPostgresURL
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("schema %s still exists after the test", schema)
	}
}

func TestWithSearchPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=s1&sslmode=disable"},
		{"postgresql://h/db", "postgresql://h/db?search_path=s1"},
		{"host=h dbname=db", "host=h dbname=db search_path=s1"},
	} {
		got, err := withSearchPath(tc.in, "s1")
		if err != nil || got != tc.want {
			t.Errorf("withSearchPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestSchemaNamesAreUniqueAndShort(t *testing.T) {
	long := strings.Repeat("TestSomethingVeryLong/With Spaces-and-Dashes", 4)
	a, b := schemaName(long), schemaName(long)
	if a == b {
		t.Fatalf("two schemas named %s", a)
	}
	if len(a) > 63 || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		t.Fatalf("schema name %q is not a short plain identifier", a)
	}
}

func TestSQLitePathIsInATempDir(t *testing.T) {
	p := SQLitePath(t)
	if _, err := os.Stat(filepath.Dir(p)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("%s already exists", p)
	}
}

// A private MariaDB database exists for the test, is writable through the DSN, and
// nobody else's.
func TestMySQLDSNGivesAPrivateDatabase(t *testing.T) {
	dsn := MySQLDSN(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(255))"); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.QueryRow("SELECT DATABASE()").Scan(&name); err != nil || !strings.HasPrefix(name, "t_testmysqldsn") {
		t.Fatalf("database %q %v", name, err)
	}
}
