package caddymodule_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/caddyoauth/caddy-oauth/authserver"
	_ "github.com/caddyoauth/caddy-oauth/caddyfile"
	"github.com/caddyoauth/caddy-oauth/caddymodule"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// These tests provision the handlers from a Caddyfile, as `caddy validate` does, so they
// live in the external test package: package caddyfile registers the directives and
// imports this one.

// validate adapts a Caddyfile site body and provisions it the way `caddy validate` does:
// every module is provisioned and cleaned up, nothing listens.
func validate(t *testing.T, siteBody string) error {
	t.Helper()
	cf := "{\n\tadmin off\n\tpersist_config off\n}\nhttp://127.0.0.1:1 {\n" + siteBody + "\n}\n"
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		return fmt.Errorf("adapt: %w", err)
	}
	return caddymodule.ValidateJSON(t, raw)
}

func TestServerProvisionErrorsNameTheOption(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	t.Setenv("PROV_SHORT_SECRET", "short")
	cases := []struct{ body, want string }{
		{"default_scope nope", `default_scope "nope"`},
		{"scope a\nscope a", `scope "a" defined twice`},
		{"client svc {\n grants implicit\n secret 0123456789abcdef0\n}", `client "svc"`},
		{"client svc {\n grants implicit\n secret 0123456789abcdef0\n}", `grant "implicit"`},
		{"client svc {\n secret {env.PROV_NOT_SET_ANYWHERE}\n}", "secret"},
		{"client svc {\n secret {env.PROV_SHORT_SECRET}\n}", "secret must be at least 16"},
		{"client svc {\n grants client_credentials\n}", `grant "client_credentials" needs a secret`},
		{"client app {\n grants password\n}", `grant "password" needs a secret`},
		{"client web {\n grants authorization_code\n redirect_uri /relative\n}", "redirect_uri"},
		{"keys " + filepath.Join(dir, "missing"), "keys"},
		{"storage sqlite " + dir, "storage sqlite"},
		{"storage postgres postgres://nobody@127.0.0.1:1/none?connect_timeout=2", "storage postgres"},
		// Checked here since the Caddyfile parsing does only syntax (moved from the
		// caddyfile package's tests).
		{"signing_alg HS256", "signing_alg"},
		{"storage mysql x", "storage"},
		{"storage mysql x", `driver "mysql": must be sqlite or postgres`},
		{"storage postgres", "storage postgres"},
		{"storage postgres", "a connection string is required"},
		{"users sql {\n database oracle dsn\n}", "database"},
		{"users sql {\n database oracle dsn\n}", `driver "oracle": must be mysql, postgres or sqlite`},
		{"users sql {\n database mysql dsn\n}", "users users sql: database mysql: the DSN does not parse"},
		{"client pac {\n grants personal_access\n secret 0123456789abcdef0\n}", `grant "personal_access"`},
	}
	for _, c := range cases {
		body := c.body
		if !strings.HasPrefix(body, "storage") {
			body = "storage sqlite " + db + "\n" + body
		}
		err := validate(t, "oauth_server {\n"+body+"\n}")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "oauth_server") {
			t.Errorf("%q: err = %v, want oauth_server and %q", c.body, err, c.want)
		}
	}
	caddymodule.PoolsEmpty(t)
}

func TestGuardProvisionErrorsNameTheOption(t *testing.T) {
	dir := t.TempDir()
	jwks := caddymodule.WriteJWKS(t, dir)
	cases := []struct{ body, want string }{
		{"issuer http://a", "jwks"},
		{"jwks " + jwks, "issuer"},
		{"jwks " + filepath.Join(dir, "nope.json") + "\nissuer http://a", "jwks"},
		{"jwks " + filepath.Join(dir, "garbage.json") + "\nissuer http://a", "jwks"},
		{"jwks " + jwks + "\nissuer http://a\nheader \"X Bad\" v", "header"},
		// Checked once, here, for the Caddyfile as for JSON: parsing leaves values alone.
		{"jwks " + jwks + "\nissuer http://a\nsubject robot", `subject "robot"`},
		{"jwks " + jwks + "\nissuer http://a\nscopes some a", "scopes"},
		{"introspect https://a/i", "introspect: client_id is required"},
		{"introspect https://a/i {\n client_id x\n}", "introspect: client_secret is required"},
	}
	if err := os.WriteFile(filepath.Join(dir, "garbage.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		err := validate(t, "oauth_guard {\n"+c.body+"\n}")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "oauth_guard") {
			t.Errorf("%q: err = %v, want oauth_guard and %q", c.body, err, c.want)
		}
	}
	for handler, want := range map[string]string{
		`{"handler":"oauth_guard","jwks":%q,"issuer":"http://a","subject":"robot"}`:                         "subject",
		`{"handler":"oauth_guard","jwks":%q,"issuer":"http://a","scopes":[{"mode":"some","scopes":["a"]}]}`: "scopes",
		`{"handler":"oauth_guard","jwks":%q,"issuer":"http://a","scopes":[{"mode":"all","scopes":[]}]}`:     "scopes",
		`{"handler":"oauth_guard","jwks":%q,"issuer":"http://a","leeway":-1000000000}`:                      "leeway",
	} {
		raw := fmt.Sprintf(`{"admin":{"disabled":true},"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:1"],"routes":[{"handle":[`+handler+`]}]}}}}}`, jwks)
		if err := caddymodule.ValidateJSON(t, []byte(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", handler, err)
		}
	}
	caddymodule.PoolsEmpty(t)
}

// A valid config provisions: declared clients land in the store with hashed secrets,
// keys are made, and cleaning up releases every shared resource.
func TestServerProvisionStoresDeclaredClientsAndReleasesPools(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			var dsn string
			if driver == "sqlite" {
				dsn = testdb.SQLitePath(t)
			} else {
				dsn = testdb.PostgresDSN(t)
			}
			t.Setenv("PROV_SVC_SECRET", "svc-secret-0123456789")
			body := fmt.Sprintf(`oauth_server {
	storage %s %q
	scope orders:read Read orders
	client svc {
		secret {env.PROV_SVC_SECRET}
		grants client_credentials
	}
}`, driver, dsn)
			// Twice, as a reload would: the second run reuses the key and keeps the client.
			for i := 0; i < 2; i++ {
				if err := validate(t, body); err != nil {
					t.Fatalf("run %d: %v", i+1, err)
				}
			}
			caddymodule.PoolsEmpty(t)
			st, err := drivers.Open(context.Background(), driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			c, err := st.GetClient(context.Background(), "svc")
			if err != nil {
				t.Fatal(err)
			}
			if c.SecretHash != authserver.HashSecret("svc-secret-0123456789") || !c.Declarative || c.Name != "svc" {
				t.Errorf("client %+v", c)
			}
			list, err := st.ListSigningKeys(context.Background())
			if err != nil || len(list) != 2 { // one access-token key, one ID-token key
				t.Fatalf("signing keys after two starts: %d %v", len(list), err)
			}
		})
	}
}

// Unset, the issuer follows the request's Host header, which a caller chooses on a
// catch-all site: provisioning says so in Caddy's log, and says nothing when it is set.
func TestServerProvisionWarnsWhenIssuerIsUnset(t *testing.T) {
	for _, c := range []struct {
		name, issuer string
		warn         bool
	}{
		{"unset", "", true},
		{"set", "issuer https://auth.example.com", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(dir, "caddy.log")
			cf := fmt.Sprintf(`{
	admin off
	persist_config off
	log {
		output file %q
		level WARN
	}
}
:0 {
	oauth_server {
		%s
		storage sqlite %q
	}
}
`, logFile, c.issuer, filepath.Join(dir, "o.db"))
			raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := caddymodule.ValidateJSON(t, raw); err != nil {
				t.Fatal(err)
			}
			caddymodule.PoolsEmpty(t)
			logged, _ := os.ReadFile(logFile)
			warned := strings.Contains(string(logged), "issuer is not set") && strings.Contains(string(logged), `"level":"warn"`)
			if warned != c.warn {
				t.Errorf("warned %v, want %v; log:\n%s", warned, c.warn, logged)
			}
		})
	}
}

// Declared clients are the operator's: plain http to any host and a private-use scheme
// without a dot are accepted on purpose (authserver.OperatorRedirectURIs), though the
// JSON API refuses them to end users.
func TestServerProvisionDeclaredClientsFollowTheOperatorRedirectURIPolicy(t *testing.T) {
	db := testdb.SQLitePath(t)
	err := validate(t, fmt.Sprintf(`oauth_server {
	storage sqlite %q
	client web {
		grants authorization_code refresh_token
		redirect_uri http://evil.example/cb myapp://callback
	}
}`, db))
	if err != nil {
		t.Fatal(err)
	}
	caddymodule.PoolsEmpty(t)
	st, err := drivers.Open(context.Background(), "sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.GetClient(context.Background(), "web")
	if err != nil || strings.Join(c.RedirectURIs, " ") != "http://evil.example/cb myapp://callback" || c.Confidential() {
		t.Fatalf("client %+v %v", c, err)
	}
}
