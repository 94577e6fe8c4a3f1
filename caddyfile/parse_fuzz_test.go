package caddyfile

import (
	"regexp"
	"strings"
	"testing"

	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddyoauth/caddy-oauth/caddymodule"
)

// errLine is the line an error names, as Caddy's dispenser writes it ("..., at <file>:<line>",
// possibly followed by the import chain).
var errLine = regexp.MustCompile(`, at Testfile:\d+`)

// fuzzDirective feeds any text after the directive's name, tokenized as Caddy does, to
// parse: it must not panic, and every error must name its line.
func fuzzDirective(f *testing.F, directive string, seeds []string, parse func(d *cfparse.Dispenser) error) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		tokens, err := cfparse.Tokenize([]byte(directive+" "+body), "Testfile")
		if err != nil {
			return // not a Caddyfile at all: Caddy refuses it before any directive sees it
		}
		if err := parse(cfparse.NewDispenser(tokens)); err != nil && !errLine.MatchString(err.Error()) {
			t.Fatalf("%s %q: the error names no line: %v", directive, body, err)
		}
	})
}

func FuzzServerCaddyfile(f *testing.F) {
	fuzzDirective(f, "oauth_server", []string{
		"{\n}",
		"{\n issuer https://a.example\n storage sqlite /tmp/x.db\n keys /k\n signing_alg RS256\n}",
		"{\n access_token_ttl 1h\n refresh_token_ttl 30d\n scope a Read A\n default_scope a\n}",
		"{\n users builtin\n users shop sql {\n database mysql x\n query \"SELECT 1\"\n username_query off\n }\n}",
		"{\n login_throttle {\n per_username 5\n per_ip off\n window 10m\n }\n}",
		"{\n token_rate_limit {\n per_client 5\n per_ip off\n window 1m\n }\n revoke_previous_tokens\n purge_interval 1h\n}",
		"{\n passport_app_key {env.APP_KEY}\n key_encryption_key a b\n templates /t\n fresh_api_token_cookie c\n}",
		"{\n client svc {\n secret s\n name A B\n grants client_credentials password\n redirect_uri https://a/cb\n provider p\n first_party\n introspect\n }\n}",
		"{\n client\n}", "{\n purge_interval -1h\n}", "x", "{\n users a b c\n}", "{\n login_throttle {\n per_ip\n }\n}",
	}, func(d *cfparse.Dispenser) error {
		var s caddymodule.Server
		return unmarshalServer(&s, d)
	})
}

func FuzzGuardCaddyfile(f *testing.F) {
	fuzzDirective(f, "oauth_guard", []string{
		"{\n jwks https://a/jwks.json\n issuer https://a\n audience x y\n scopes all a b\n scopes any c\n}",
		"{\n jwks /k.pem\n passport\n passport_revocations mysql {env.DB}\n subject user\n provider p\n}",
		"{\n introspect https://a/oauth/introspect {\n client_id e\n client_secret s\n cache_ttl 5s\n }\n}",
		"{\n revocations https://a/oauth/revocations {\n client_id e\n client_secret s\n }\n cookie c\n header X-A {oauth.claim.a}\n realm api\n cache_size 10\n}",
		"{\n scopes\n}", "{\n subject nobody\n}", "{\n header X-A\n}", "x y", "{\n introspect {\n }\n}",
	}, func(d *cfparse.Dispenser) error {
		var g caddymodule.Guard
		return unmarshalGuard(&g, d)
	})
}

// The seeds alone, as go test runs them: every refusal among them names its line too.
func TestFuzzSeedsRefuseWithLines(t *testing.T) {
	var s caddymodule.Server
	err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server {\n\tpurge_interval -1h\n}"))
	if err == nil || !errLine.MatchString(err.Error()) || !strings.HasSuffix(err.Error(), ", at Testfile:2") {
		t.Fatalf("got %v", err)
	}
}
