package cmd

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// TestImportPassportSpeed measures `caddy oauth import passport` on a MariaDB database
// with OAUTH_BENCH_IMPORT_ROWS live access tokens (the target: 1,000,000 at 50,000 rows/s
// or better), into the store named by OAUTH_BENCH_IMPORT_STORE (sqlite, the default, or
// postgres). It is skipped unless the variable is set: filling the database alone takes
// longer than the whole default suite may.
//
//	OAUTH_BENCH_IMPORT_ROWS=1000000 CI=true go test -run TestImportPassportSpeed -v -timeout 30m ./cmd
func TestImportPassportSpeed(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("OAUTH_BENCH_IMPORT_ROWS"))
	if n <= 0 {
		t.Skip("set OAUTH_BENCH_IMPORT_ROWS to measure the import")
	}
	ctx := context.Background()
	dsn := testdb.MySQLDSN(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := laravel.CreateSchema(ctx, db, laravel.MySQL); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO oauth_clients (id, name, secret, redirect, personal_access_client, password_client, revoked)
		VALUES (1, 'A', 's', 'https://a/cb', 0, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	fill := time.Now()
	exp := time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02 15:04:05")
	const batch = 5000
	for done := 0; done < n; done += batch {
		var b strings.Builder
		b.WriteString(`INSERT INTO oauth_access_tokens (id, user_id, client_id, name, scopes, revoked, created_at, updated_at, expires_at) VALUES `)
		for i := 0; i < batch && done+i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			// One in a hundred is revoked, as a deployment has some.
			fmt.Fprintf(&b, `('%s', %d, 1, NULL, '["orders:read"]', %d, NOW(), NOW(), '%s')`,
				laravel.NewTokenID(), (done+i)%5000+1, btoi((done+i)%100 == 0), exp)
		}
		if _, err := db.Exec(b.String()); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("filled %d rows in %s", n, time.Since(fill).Round(time.Millisecond))

	s := storeSpec{"sqlite", testdb.SQLitePath(t)}
	if os.Getenv("OAUTH_BENCH_IMPORT_STORE") == "postgres" {
		s = storeSpec{"postgres", testdb.PostgresDSN(t)}
	}
	openStore(t, s).Close()
	rdb, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	readStart := time.Now()
	if _, err := readPassport(ctx, rdb, "mysql", time.Now()); err != nil {
		t.Fatal(err)
	}
	rdb.Close()
	t.Logf("reading alone: %s", time.Since(readStart).Round(time.Millisecond))
	start := time.Now()
	out := mustRun(t, "", "import", "passport", "--storage", s.flag(), "--from", "mysql:"+dsn)
	d := time.Since(start)
	t.Logf("%s", strings.TrimSpace(out))
	t.Logf("imported %d access tokens from MariaDB into %s in %s: %.0f rows/s", n, s.driver, d.Round(time.Millisecond), float64(n)/d.Seconds())
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
