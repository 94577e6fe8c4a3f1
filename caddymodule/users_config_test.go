package caddymodule

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/passwords"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

func TestProvidersNeedUniqueNamesAndKnownClients(t *testing.T) {
	path := testdb.SQLitePath(t)
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	repl := caddy.NewReplacer()
	sqliteAt := &StorageConfig{Driver: "sqlite", DSN: path}
	dup := &Server{Storage: sqliteAt, Users: []UserProviderConfig{{Name: "a", Kind: "builtin"}, {Name: "a", Kind: "builtin"}}}
	if _, err := dup.settings(repl, nil); err == nil || !strings.Contains(err.Error(), "already configured") {
		t.Fatalf("duplicate names: %v", err)
	}
	unknown := &Server{Storage: sqliteAt, Clients: []ClientConfig{{ID: "c", Provider: "nope"}}}
	set, err := unknown.settings(repl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := unknown.writeDeclaredClients(context.Background(), st, set, repl); err == nil || !strings.Contains(err.Error(), `provider "nope" is not configured`) {
		t.Fatalf("unknown provider: %v", err)
	}
}

// A sql provider without a database reads the oauth_server's own storage: here the
// store's own users table, through a query naming its columns.
func TestSQLProviderDefaultsToTheServersStorage(t *testing.T) {
	path := testdb.SQLitePath(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hash, _ := passwords.Bcrypt{Cost: 4}.Hash("pass word")
	if err := st.CreateUser(ctx, &store.User{ID: "u-9", Email: "x@y.test", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	s := &Server{Storage: &StorageConfig{Driver: "sqlite", DSN: path},
		Users: []UserProviderConfig{{Name: "mirror", Kind: "sql", Query: "SELECT id, password_hash FROM users WHERE email = $1"}}}
	set, err := s.settings(caddy.NewReplacer(), nil)
	if err != nil {
		t.Fatal(err)
	}
	res := &pooledResources{}
	defer func() {
		if err := res.release(); err != nil {
			t.Error(err)
		}
		poolsEmpty(t)
	}()
	providers, err := userProviders(ctx, set, st, res, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := providers["users"].(*authserver.BuiltinUsers); !ok {
		t.Errorf("default provider is %T, want the builtin one", providers["users"])
	}
	id, err := providers["mirror"].Authenticate(ctx, "x@y.test", "pass word")
	if err != nil || id != "u-9" {
		t.Fatalf("got %q %v", id, err)
	}
}

// users sql's claims: the default claims_query is used when the table has Laravel's
// columns, and dropped without failing the load when it does not; a claims_query of the
// operator's own that does not prepare stops the load, naming the option.
func TestSQLProviderClaimsQueryDefaultAndOwn(t *testing.T) {
	ctx := context.Background()
	appDB := func(cols string) string {
		path := filepath.Join(t.TempDir(), "app.db")
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, password TEXT` + cols + `)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO users (id, email, password) VALUES (7, 'ada@example.com', 'x')`); err != nil {
			t.Fatal(err)
		}
		return path
	}
	load := func(path, claimsQuery string) (map[string]authserver.UserProvider, error) {
		s := &Server{Users: []UserProviderConfig{{Kind: "sql", Database: &StorageConfig{Driver: "sqlite", DSN: path}, ClaimsQuery: claimsQuery}}}
		set, err := s.settings(caddy.NewReplacer(), nil)
		if err != nil {
			t.Fatal(err)
		}
		res := &directResources{}
		t.Cleanup(func() { _ = res.release() })
		return userProviders(ctx, set, nil, res, nil)
	}
	claimsOf := func(p authserver.UserProvider) *authserver.UserClaims {
		c, err := p.(authserver.UserClaimsSource).UserClaims(ctx, "7")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	laravel, err := load(appDB(", name TEXT, email_verified_at TEXT"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(laravel["users"]); c == nil || c.Email != "ada@example.com" || c.EmailVerified == nil || *c.EmailVerified {
		t.Fatalf("default claims query on a Laravel table: %+v", c)
	}
	bare, err := load(appDB(""), "")
	if err != nil {
		t.Fatalf("the default claims query failed the load of a table without its columns: %v", err)
	}
	if c := claimsOf(bare["users"]); c != nil {
		t.Fatalf("claims without a claims query: %+v", c)
	}
	if _, err := load(appDB(""), "SELECT name FROM users WHERE id = $1"); err == nil || !strings.Contains(err.Error(), "claims_query") {
		t.Fatalf("a claims_query that does not prepare: %v", err)
	}
}
