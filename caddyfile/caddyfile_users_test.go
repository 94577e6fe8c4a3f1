package caddyfile

import (
	"github.com/caddyoauth/caddy-oauth/caddymodule"

	"reflect"
	"strings"
	"testing"
	"time"

	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUsersDirectiveParsesDefaultAndNamedProviders(t *testing.T) {
	d := cfparse.NewTestDispenser(`oauth_server {
		users builtin
		users customers sql {
			database postgres {env.APP_DATABASE_URL}
			query "SELECT id, password FROM users WHERE username = $1"
			claims_query "SELECT display_name AS name FROM users WHERE id = $1"
		}
		users staff sql {
			claims_query off
		}
		users legacy builtin
	}`)
	var s caddymodule.Server
	if err := unmarshalServer(&s, d); err != nil {
		t.Fatal(err)
	}
	want := []caddymodule.UserProviderConfig{
		{Kind: "builtin"},
		{Name: "customers", Kind: "sql", Database: &caddymodule.StorageConfig{Driver: "postgres", DSN: "{env.APP_DATABASE_URL}"},
			Query: "SELECT id, password FROM users WHERE username = $1", ClaimsQuery: "SELECT display_name AS name FROM users WHERE id = $1"},
		{Name: "staff", Kind: "sql", ClaimsQuery: "off"},
		{Name: "legacy", Kind: "builtin"},
	}
	if !reflect.DeepEqual(s.Users, want) {
		t.Fatalf("got %+v", s.Users)
	}
}

// `database mysql <dsn>` reads MySQL/MariaDB; the DSN (a placeholder here) is kept as
// written, for the settings to check once.
func TestUsersSQLAcceptsAMySQLDatabase(t *testing.T) {
	var s caddymodule.Server
	if err := unmarshalServer(&s, cfparse.NewTestDispenser(`oauth_server {
		users sql {
			database mysql {env.DB_URL}
		}
		users staff sql {
			database mysql "laravel:secret@tcp(127.0.0.1:3306)/app"
		}
	}`)); err != nil {
		t.Fatal(err)
	}
	if *s.Users[0].Database != (caddymodule.StorageConfig{Driver: "mysql", DSN: "{env.DB_URL}"}) ||
		*s.Users[1].Database != (caddymodule.StorageConfig{Driver: "mysql", DSN: "laravel:secret@tcp(127.0.0.1:3306)/app"}) {
		t.Fatalf("got %+v %+v", s.Users[0].Database, s.Users[1].Database)
	}
}

// The contract's `users sql { ... }` configures the default provider.
func TestUsersSQLWithoutNameIsTheDefaultProvider(t *testing.T) {
	var s caddymodule.Server
	if err := unmarshalServer(&s, cfparse.NewTestDispenser(`oauth_server {
		users sql {
			database sqlite /srv/app/database.sqlite
		}
	}`)); err != nil {
		t.Fatal(err)
	}
	if len(s.Users) != 1 || s.Users[0].ProviderName() != "users" || s.Users[0].Database.Driver != "sqlite" {
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
		{"users sql {\n\tdatabase postgres\n}", "database: want"},
		{"users sql {\n\tquery a b\n}", "takes one value"},
		{"users sql {\n\tdsn x\n}", `unknown option "dsn"`},
	} {
		var s caddymodule.Server
		err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server {\n"+c.in+"\n}"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

func TestLoginThrottleDirective(t *testing.T) {
	var s caddymodule.Server
	if err := unmarshalServer(&s, cfparse.NewTestDispenser(`oauth_server {
		login_throttle {
			per_username 5
			per_ip off
			window 10m
		}
	}`)); err != nil {
		t.Fatal(err)
	}
	got := s.LoginThrottle
	if got.PerUsername != 5 || got.PerIP != -1 || time.Duration(got.Window) != 10*time.Minute {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{"per_username 0", "per_ip -3", "window soon", "window 0s", "burst 3"} {
		var s caddymodule.Server
		if err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server {\nlogin_throttle {\n"+bad+"\n}\n}")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestGuardCookieOption(t *testing.T) {
	var g caddymodule.Guard
	if err := unmarshalGuard(&g, cfparse.NewTestDispenser("oauth_guard {\n\tcookie api_token\n}")); err != nil {
		t.Fatal(err)
	}
	if g.Cookie != "api_token" {
		t.Fatalf("cookie %q", g.Cookie)
	}
	if err := unmarshalGuard(&caddymodule.Guard{}, cfparse.NewTestDispenser("oauth_guard {\n\tcookie\n}")); err == nil {
		t.Fatal("cookie without a name accepted")
	}
}

func TestFreshAPITokenCookieDirective(t *testing.T) {
	var s caddymodule.Server
	if err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server {\n\tfresh_api_token_cookie api_token\n}")); err != nil {
		t.Fatal(err)
	}
	if s.FreshAPITokenCookie != "api_token" {
		t.Fatalf("got %q", s.FreshAPITokenCookie)
	}
	if err := unmarshalServer(&caddymodule.Server{}, cfparse.NewTestDispenser("oauth_server {\n\tfresh_api_token_cookie a b\n}")); err == nil {
		t.Fatal("two names accepted")
	}
}

func TestTemplatesOptionTakesAFolder(t *testing.T) {
	var s caddymodule.Server
	if err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server {\n\ttemplates /srv/oauth-views\n}")); err != nil || s.Templates != "/srv/oauth-views" {
		t.Fatalf("%q %v", s.Templates, err)
	}
	if err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server {\n\ttemplates a b\n}")); err == nil {
		t.Fatal("two folders accepted")
	}
}
