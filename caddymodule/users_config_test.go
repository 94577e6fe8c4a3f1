package caddymodule

import (
	"context"
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
