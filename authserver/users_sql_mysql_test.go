package authserver_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// laravelMySQL makes Laravel's users table in a MariaDB database of its own, with one row
// per (email, hash), and returns the DSN and a writable handle for checking it.
func laravelMySQL(t *testing.T, users map[string]string) (string, *sql.DB) {
	t.Helper()
	dsn := testdb.MySQLDSN(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if err := laravel.CreateSchema(ctx, db, laravel.MySQL); err != nil {
		t.Fatal(err)
	}
	for email, hash := range users {
		if _, err := db.ExecContext(ctx, "INSERT INTO users (name, email, password, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			"Someone", email, hash, time.Now().UTC(), time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
	}
	return dsn, db
}

// On MySQL/MariaDB the default query (written with $1) and custom ones work: $1 is
// rebound to ?, a query already written with ? is kept, and $1 may appear twice. Users
// of every hash Laravel writes log in; others fail as a wrong password does.
func TestSQLProviderReadsMySQLWithDollarPlaceholders(t *testing.T) {
	const argon2i = "$argon2i$v=19$m=1024,t=2,p=1$YUp1d0w3MTdQREhud21jaA$a616gxCKDJRW4nbesJS4+9hk4X+Nk92IQZHAd9U80dU"
	const argon2id = "$argon2id$v=19$m=1024,t=2,p=2$SDRHbHRjd1pRdmFlQWcwVw$LdCJ4LepGBRZAHq0t4PpGudYPmrLOcNXpuMV4LxBGDg"
	dsn, _ := laravelMySQL(t, map[string]string{
		"y@shop.test":        bcryptAs(t, "$2y$", "why not"),
		"argon@shop.test":    argon2i,
		"argon2id@shop.test": argon2id,
	})
	db, err := authserver.OpenUserDB("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, query := range []string{
		"", // DefaultUserQuery
		"SELECT id, password FROM users WHERE email = ?",
		"SELECT id, password FROM users WHERE email = $1 OR name = $1",
	} {
		p, err := authserver.NewSQLUsers(ctx, db, query)
		if err != nil {
			t.Fatalf("%q: %v", query, err)
		}
		ids := map[string]bool{}
		for email, pass := range map[string]string{"y@shop.test": "why not", "argon@shop.test": "secret pass", "argon2id@shop.test": "secret pass"} {
			id, err := p.Authenticate(ctx, email, pass)
			if err != nil || id == "" || ids[id] {
				t.Fatalf("%q: %s: %q %v", query, email, id, err)
			}
			ids[id] = true
			if _, err := p.Authenticate(ctx, email, pass+"!"); !errors.Is(err, authserver.ErrInvalidCredentials) {
				t.Errorf("%q: %s with a wrong password: %v", query, email, err)
			}
		}
		for _, name := range []string{"nobody@shop.test", "' OR '1'='1", "Someone"} {
			if _, err := p.Authenticate(ctx, name, "why not"); !errors.Is(err, authserver.ErrInvalidCredentials) {
				t.Errorf("%q: %q: %v", query, name, err)
			}
		}
	}
}

// The application's table is only read on MySQL too: a query that would write is
// refused by the read-only session, and the row is unchanged.
func TestSQLProviderCannotWriteAMySQLTable(t *testing.T) {
	hash := bcryptAs(t, "$2y$", "keep me")
	dsn, app := laravelMySQL(t, map[string]string{"victim@shop.test": hash})
	db, err := authserver.OpenUserDB("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, q := range []string{
		"UPDATE users SET password = 'x' WHERE email = $1",
		"INSERT INTO users (name, email, password) SELECT 'eve', CONCAT('eve', $1), 'x'",
	} {
		if p, err := authserver.NewSQLUsers(ctx, db, q); err == nil {
			if _, err := p.Authenticate(ctx, "victim@shop.test", "x"); err == nil {
				t.Fatalf("%s: a writing query succeeded", q)
			}
		}
	}
	var got string
	var n int
	if err := app.QueryRow("SELECT password, (SELECT COUNT(*) FROM users) FROM users WHERE email = 'victim@shop.test'").Scan(&got, &n); err != nil || got != hash || n != 1 {
		t.Fatalf("table changed: %q %d %v", got, n, err)
	}
}

// On a Laravel users table in MariaDB, the default claims query describes a user: the name
// and email as stored, email_verified from email_verified_at (a TIMESTAMP the driver
// returns as text).
func TestSQLProviderReadsClaimsFromLaravelMySQL(t *testing.T) {
	dsn, app := laravelMySQL(t, map[string]string{"v@shop.test": bcryptAs(t, "$2y$", "pw"), "u@shop.test": bcryptAs(t, "$2y$", "pw")})
	ctx := context.Background()
	if _, err := app.ExecContext(ctx, "UPDATE users SET name = 'Vera Verified', email_verified_at = ? WHERE email = 'v@shop.test'", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	db, err := authserver.OpenUserDB("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := authserver.NewSQLUsers(ctx, db, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WithClaims(ctx, authserver.DefaultClaimsQuery); err != nil {
		t.Fatal(err)
	}
	for email, want := range map[string]struct {
		name     string
		verified bool
	}{"v@shop.test": {"Vera Verified", true}, "u@shop.test": {"Someone", false}} {
		id, err := p.Authenticate(ctx, email, "pw")
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.UserClaims(ctx, id)
		if err != nil || c.Name != want.name || c.Email != email || c.EmailVerified == nil || *c.EmailVerified != want.verified {
			t.Fatalf("%s: %+v %v", email, c, err)
		}
	}
}
