package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Tables are the store's tables, the ones Fingerprint reads. login_failures is left out
// on purpose: a refused login is meant to be counted there (login throttling).
var Tables = []string{"clients", "users", "access_tokens", "refresh_tokens", "auth_codes", "signing_keys",
	"sessions", "consents", "revocations", "device_codes",
	"pushed_authorization_requests", "client_assertion_jtis"}

// Fingerprint returns every row of every store table as text, so a test can prove that a
// refused request changed nothing: take it before and after and compare.
func Fingerprint(t testing.TB, driver, dsn string) string {
	t.Helper()
	var b strings.Builder
	ctx := context.Background()
	switch driver {
	case "sqlite":
		db, err := sql.Open("sqlite", "file:"+dsn+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatalf("testdb: open %s: %v", dsn, err)
		}
		defer db.Close()
		for _, table := range Tables {
			rows, err := db.QueryContext(ctx, "SELECT * FROM "+table+" ORDER BY 1")
			if err != nil {
				t.Fatalf("testdb: read %s: %v", table, err)
			}
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatalf("testdb: scan %s: %v", table, err)
				}
				fmt.Fprintf(&b, "%s%v\n", table, vals)
			}
			rows.Close()
		}
	case "postgres":
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("testdb: connect: %v", err)
		}
		defer conn.Close(ctx)
		for _, table := range Tables {
			rows, err := conn.Query(ctx, "SELECT * FROM "+table+" ORDER BY 1")
			if err != nil {
				t.Fatalf("testdb: read %s: %v", table, err)
			}
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					t.Fatalf("testdb: scan %s: %v", table, err)
				}
				fmt.Fprintf(&b, "%s%v\n", table, vals)
			}
			rows.Close()
		}
	default:
		t.Fatalf("testdb: unknown driver %q", driver)
	}
	return b.String()
}
