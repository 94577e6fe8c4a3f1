package caddymodule_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/caddymodule"
)

// serverJSON adapts a Caddyfile and returns its oauth_server handler's JSON, as both
// Caddy and `caddy oauth --config` read it.
func serverJSON(t *testing.T, caddyfile string) []byte {
	t.Helper()
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var found any
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["handler"] == "oauth_server" && found == nil {
				found = x
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if found == nil {
		t.Fatalf("no oauth_server in %s", raw)
	}
	out, _ := json.Marshal(found)
	return out
}

// The command line (caddymodule.OpenStandalone, what `caddy oauth --config` uses) and
// Provision build the same protocol server configuration from one Caddyfile: one path
// from configuration to server, so the two cannot drift apart again.
func TestCommandLineAndProvisionBuildTheSameServer(t *testing.T) {
	dir := t.TempDir()
	appDB := filepath.Join(dir, "app.sqlite")
	db, err := sql.Open("sqlite", appDB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE users (id integer PRIMARY KEY, email text, password text)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Setenv("ONE_PATH_ISSUER", "https://auth.one-path.test")
	cf := fmt.Sprintf(`{
	admin off
	persist_config off
}
http://127.0.0.1:0 {
	oauth_server {
		issuer {env.ONE_PATH_ISSUER}
		storage sqlite %q
		signing_alg RS256
		access_token_ttl 15m
		refresh_token_ttl 48h
		personal_token_ttl 2000h
		session_ttl 30m
		implicit_grant
		audience api-a api-b
		scope orders:read Read your orders
		scope orders:write Change your orders
		default_scope orders:read
		users builtin
		users staff builtin
		users shop sql {
			database sqlite %q
		}
		login_throttle {
			per_username 5
			per_ip off
			window 10m
		}
		fresh_api_token_cookie api_token
		token_rate_limit {
			per_client 50
		}
		revoke_previous_tokens
		purge_interval 1h
		passport_app_key base64:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
	}
}
`, filepath.Join(dir, "oauth.db"), appDB)
	raw := serverJSON(t, cf)

	fromCaddy := runAndFindServerConfig(t, cf)

	var cli caddymodule.Server
	if err := json.Unmarshal(raw, &cli); err != nil {
		t.Fatal(err)
	}
	standalone, err := caddymodule.OpenStandalone(context.Background(), &cli, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer standalone.Close()
	fromCLI, err := standalone.ServerConfig(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}

	if fromCaddy.Issuer != "https://auth.one-path.test" || fromCaddy.AccessTokenTTL != 15*time.Minute || !fromCaddy.ImplicitGrant ||
		string(fromCaddy.PassportAppKey) != "0123456789abcdef0123456789abcdef" || fromCaddy.TokenRateLimit.PerClient != 50 {
		t.Fatalf("provisioned config does not follow the Caddyfile: %+v", fromCaddy)
	}
	for _, c := range []struct {
		name           string
		caddy, cmdline any
	}{
		{"issuer", fromCaddy.Issuer, fromCLI.Issuer},
		{"audience", fromCaddy.Audience, fromCLI.Audience},
		{"scopes", fromCaddy.Scopes, fromCLI.Scopes},
		{"access_token_ttl", fromCaddy.AccessTokenTTL, fromCLI.AccessTokenTTL},
		{"refresh_token_ttl", fromCaddy.RefreshTokenTTL, fromCLI.RefreshTokenTTL},
		{"personal_token_ttl", fromCaddy.PersonalTokenTTL, fromCLI.PersonalTokenTTL},
		{"session_ttl", fromCaddy.SessionTTL, fromCLI.SessionTTL},
		{"implicit_grant", fromCaddy.ImplicitGrant, fromCLI.ImplicitGrant},
		{"login_throttle", fromCaddy.LoginThrottle, fromCLI.LoginThrottle},
		{"token_rate_limit", fromCaddy.TokenRateLimit, fromCLI.TokenRateLimit},
		{"fresh_api_token_cookie", fromCaddy.FreshAPITokenCookie, fromCLI.FreshAPITokenCookie},
		{"revoke_previous_tokens", fromCaddy.RevokePreviousTokens, fromCLI.RevokePreviousTokens},
		{"passport_app_key", fromCaddy.PassportAppKey, fromCLI.PassportAppKey},
		{"signing key", fromCaddy.Keys.Signer().KeyID(), fromCLI.Keys.Signer().KeyID()},
		{"signing_alg", fromCaddy.Keys.Signer().Alg(), fromCLI.Keys.Signer().Alg()},
		{"published keys", fromCaddy.Keys.PublishedKeyIDs(), fromCLI.Keys.PublishedKeyIDs()},
	} {
		if !reflect.DeepEqual(c.caddy, c.cmdline) {
			t.Errorf("%s: Provision built %v, the command line %v", c.name, c.caddy, c.cmdline)
		}
	}
	if alg := standalone.SigningAlg(); alg != "RS256" {
		t.Errorf("the command line's signing_alg is %s", alg)
	}
	var caddyProviders, cliProviders []string
	for name, p := range fromCaddy.Providers {
		caddyProviders = append(caddyProviders, fmt.Sprintf("%s=%T", name, p))
	}
	for name, p := range fromCLI.Providers {
		cliProviders = append(cliProviders, fmt.Sprintf("%s=%T", name, p))
	}
	slices.Sort(caddyProviders)
	slices.Sort(cliProviders)
	want := []string{"shop=*authserver.NamedSQLUsers", "staff=*authserver.BuiltinUsers", "users=*authserver.BuiltinUsers"}
	if !slices.Equal(caddyProviders, want) || !slices.Equal(cliProviders, want) {
		t.Errorf("providers: Provision %v, the command line %v, want %v", caddyProviders, cliProviders, want)
	}
	if names := standalone.ProviderNames(); !slices.Equal(names, []string{"users", "staff", "shop"}) {
		t.Errorf("provider names %v", names)
	}
	// What only a running Caddy has is Provision's alone.
	if fromCaddy.Logger == nil || fromCaddy.ClientIP == nil || fromCaddy.OnEvent == nil || fromCLI.Logger != nil || fromCLI.ClientIP != nil {
		t.Errorf("Caddy-only fields: Provision %v %v, command line %v %v", fromCaddy.Logger, fromCaddy.ClientIP != nil, fromCLI.Logger, fromCLI.ClientIP != nil)
	}
	if _, err := authserver.New(fromCLI); err != nil {
		t.Fatal(err)
	}
}

// runAndFindServerConfig runs the Caddyfile in this process, as `caddy run` does, and
// returns the configuration its oauth_server was provisioned with. Caddy stops, and every
// pool is released, when the test ends.
func runAndFindServerConfig(t *testing.T, cf string) authserver.Config {
	t.Helper()
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(raw, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Error(err)
		}
		caddymodule.PoolsEmpty(t)
	})
	app, err := caddy.ActiveContext().App("http")
	if err != nil {
		t.Fatal(err)
	}
	var found *caddymodule.Server
	var walk func(routes caddyhttp.RouteList)
	walk = func(routes caddyhttp.RouteList) {
		for _, r := range routes {
			for _, h := range r.Handlers {
				switch h := h.(type) {
				case *caddymodule.Server:
					found = h
				case *caddyhttp.Subroute:
					walk(h.Routes)
				}
			}
		}
	}
	for _, srv := range app.(*caddyhttp.App).Servers {
		walk(srv.Routes)
	}
	if found == nil {
		t.Fatal("no provisioned oauth_server")
	}
	return caddymodule.ProvisionedConfig(found)
}
