package caddyfile

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/passwords"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

func TestUsersDirectiveParsesDefaultAndNamedProviders(t *testing.T) {
	d := cfparse.NewTestDispenser(`oauth_server {
		users builtin
		users customers sql {
			database postgres {env.APP_DATABASE_URL}
			query "SELECT id, password FROM users WHERE username = $1"
		}
		users staff sql
		users legacy builtin
	}`)
	var s Server
	if err := s.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := []UserProviderConfig{
		{Kind: "builtin"},
		{Name: "customers", Kind: "sql", Database: &StorageConfig{Driver: "postgres", DSN: "{env.APP_DATABASE_URL}"},
			Query: "SELECT id, password FROM users WHERE username = $1"},
		{Name: "staff", Kind: "sql"},
		{Name: "legacy", Kind: "builtin"},
	}
	if !reflect.DeepEqual(s.Users, want) {
		t.Fatalf("got %+v", s.Users)
	}
}

// The contract's `users sql { ... }` configures the default provider.
func TestUsersSQLWithoutNameIsTheDefaultProvider(t *testing.T) {
	var s Server
	if err := s.UnmarshalCaddyfile(cfparse.NewTestDispenser(`oauth_server {
		users sql {
			database sqlite /srv/app/database.sqlite
		}
	}`)); err != nil {
		t.Fatal(err)
	}
	if len(s.Users) != 1 || s.Users[0].providerName() != "users" || s.Users[0].Database.Driver != "sqlite" {
		t.Fatalf("got %+v", s.Users)
	}
}

func TestUsersDirectiveRejectsBadSyntax(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`users`, "want '[<name>] builtin'"},
		{`users ldap`, `kind "ldap"`},
		{`users a b c`, "want '[<name>] builtin'"},
		{`users sql builtin`, `"sql" cannot name a provider`},
		{"users builtin {\n\tquery x\n}", "builtin takes no options"},
		{"users sql {\n\tdatabase mysql dsn\n}", "database: want"},
		{"users sql {\n\tdatabase postgres\n}", "database: want"},
		{"users sql {\n\tquery a b\n}", "takes one value"},
		{"users sql {\n\tdsn x\n}", `unknown option "dsn"`},
	} {
		var s Server
		err := s.UnmarshalCaddyfile(cfparse.NewTestDispenser("oauth_server {\n" + c.in + "\n}"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

func TestProvidersNeedUniqueNamesAndKnownClients(t *testing.T) {
	path := testdb.SQLitePath(t)
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	repl := caddy.NewReplacer()
	dup := &Server{Users: []UserProviderConfig{{Name: "a", Kind: "builtin"}, {Name: "a", Kind: "builtin"}}}
	if _, _, err := dup.provisionProviders(context.Background(), st, "sqlite", path, repl); err == nil || !strings.Contains(err.Error(), "already configured") {
		t.Fatalf("duplicate names: %v", err)
	}
	unknown := &Server{Clients: []ClientConfig{{ID: "c", Provider: "nope"}}}
	if _, _, err := unknown.provisionProviders(context.Background(), st, "sqlite", path, repl); err == nil || !strings.Contains(err.Error(), `provider "nope" is not configured`) {
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
	s := &Server{Users: []UserProviderConfig{{Name: "mirror", Kind: "sql", Query: "SELECT id, password_hash FROM users WHERE email = $1"}}}
	providers, dbKeys, err := s.provisionProviders(ctx, st, "sqlite", path, caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	s.userDBKeys = dbKeys
	defer s.Cleanup()
	if _, ok := providers["users"].(*authserver.BuiltinUsers); !ok {
		t.Errorf("default provider is %T, want the builtin one", providers["users"])
	}
	id, err := providers["mirror"].Authenticate(ctx, "x@y.test", "pass word")
	if err != nil || id != "u-9" {
		t.Fatalf("got %q %v", id, err)
	}
}

func TestLoginThrottleDirective(t *testing.T) {
	var s Server
	if err := s.UnmarshalCaddyfile(cfparse.NewTestDispenser(`oauth_server {
		login_throttle {
			per_username 5
			per_ip off
			window 10m
		}
	}`)); err != nil {
		t.Fatal(err)
	}
	got := s.LoginThrottle.throttle()
	if got.PerUsername != 5 || got.PerIP != -1 || got.Window != 10*time.Minute {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{"per_username 0", "per_ip -3", "window soon", "window 0s", "burst 3"} {
		var s Server
		if err := s.UnmarshalCaddyfile(cfparse.NewTestDispenser("oauth_server {\nlogin_throttle {\n" + bad + "\n}\n}")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestGuardCookieOption(t *testing.T) {
	var g Guard
	if err := g.UnmarshalCaddyfile(cfparse.NewTestDispenser("oauth_guard {\n\tcookie api_token\n}")); err != nil {
		t.Fatal(err)
	}
	if g.Cookie != "api_token" {
		t.Fatalf("cookie %q", g.Cookie)
	}
	if err := (&Guard{}).UnmarshalCaddyfile(cfparse.NewTestDispenser("oauth_guard {\n\tcookie\n}")); err == nil {
		t.Fatal("cookie without a name accepted")
	}
}

func TestFreshAPITokenCookieDirective(t *testing.T) {
	var s Server
	if err := s.UnmarshalCaddyfile(cfparse.NewTestDispenser("oauth_server {\n\tfresh_api_token_cookie api_token\n}")); err != nil {
		t.Fatal(err)
	}
	if s.FreshAPITokenCookie != "api_token" {
		t.Fatalf("got %q", s.FreshAPITokenCookie)
	}
	if err := (&Server{}).UnmarshalCaddyfile(cfparse.NewTestDispenser("oauth_server {\n\tfresh_api_token_cookie a b\n}")); err == nil {
		t.Fatal("two names accepted")
	}
}
