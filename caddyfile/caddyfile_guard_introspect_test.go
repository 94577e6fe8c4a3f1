package caddyfile

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddyoauth/caddy-oauth/caddymodule"
)

func parseGuardConfig(t *testing.T, src string) (*caddymodule.Guard, error) {
	t.Helper()
	g := new(caddymodule.Guard)
	err := unmarshalGuard(g, cfparse.NewTestDispenser(src))
	return g, err
}

func TestGuardCaddyfileIntrospectAndRevocations(t *testing.T) {
	g, err := parseGuardConfig(t, `oauth_guard {
		introspect https://auth.example.com/oauth/introspect {
			client_id     edge
			client_secret {env.GUARD_SECRET}
			token_url     https://auth.example.com/oauth/token
			cache_ttl     30s
			negative_cache_ttl 2s
			negative_cache_size 500
			timeout       3s
		}
		revocations https://auth.example.com/oauth/revocations
		scopes all orders:read
	}`)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(g)
	want := `{"introspect":{"url":"https://auth.example.com/oauth/introspect","client_id":"edge","client_secret":"{env.GUARD_SECRET}",` +
		`"token_url":"https://auth.example.com/oauth/token","cache_ttl":30000000000,"negative_cache_ttl":2000000000,` +
		`"negative_cache_size":500,"timeout":3000000000},"revocations":{"url":"https://auth.example.com/oauth/revocations"},` +
		`"scopes":[{"mode":"all","scopes":["orders:read"]}]}`
	if string(raw) != want {
		t.Fatalf("JSON\n got %s\nwant %s", raw, want)
	}

	g, err = parseGuardConfig(t, `oauth_guard {
		jwks https://auth.example.com/.well-known/jwks.json
		issuer https://auth.example.com
		revocations https://auth.example.com/oauth/revocations {
			client_id edge
			client_secret s
			behind_after 1m
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if r := g.Revocations; r == nil || r.ClientID != "edge" || r.ClientSecret != "s" || time.Duration(r.BehindAfter) != time.Minute {
		t.Fatalf("revocations = %+v", g.Revocations)
	}
}

func TestGuardCaddyfileRejectsBadIntrospectOptions(t *testing.T) {
	for src, want := range map[string]string{
		`oauth_guard { introspect }`: "introspect: a value is required",
		`oauth_guard { introspect https://a/i { client_id x; client_secret y; cache_ttl soon } }`:        "cache_ttl",
		`oauth_guard { introspect https://a/i { client_id x; client_secret y; negative_cache_size 0 } }`: "negative_cache_size",
		`oauth_guard { introspect https://a/i { client_id x; client_secret y; cache_size 1 } }`:          `unknown option "cache_size"`,
		`oauth_guard { revocations https://a/r { lag 1s } }`:                                             `revocations: unknown option "lag"`,
	} {
		src = strings.ReplaceAll(src, "; ", "\n")
		src = strings.ReplaceAll(src, "{ ", "{\n")
		src = strings.ReplaceAll(src, " }", "\n}")
		_, err := parseGuardConfig(t, src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", src, err, want)
		}
	}
}

func TestGuardCaddyfilePassportRevocations(t *testing.T) {
	g, err := parseGuardConfig(t, "oauth_guard {\n\tpassport_revocations mysql {env.LARAVEL_DB} {\n\t\tinterval 250ms\n\t}\n}")
	if err != nil {
		t.Fatal(err)
	}
	if pc := g.PassportRevocations; pc == nil || pc.Driver != "mysql" || pc.DSN != "{env.LARAVEL_DB}" || time.Duration(pc.Interval) != 250*time.Millisecond {
		t.Fatalf("parsed %+v", g.PassportRevocations)
	}
	for _, bad := range []string{
		"oauth_guard {\n\tpassport_revocations mysql\n}",
		"oauth_guard {\n\tpassport_revocations mysql dsn {\n\t\tevery 1s\n\t}\n}",
		"oauth_guard {\n\tpassport_revocations mysql dsn {\n\t\tinterval soon\n\t}\n}",
	} {
		if _, err := parseGuardConfig(t, bad); err == nil || !strings.Contains(err.Error(), "passport_revocations") && !strings.Contains(err.Error(), "interval") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
