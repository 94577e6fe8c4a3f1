package caddyfile

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// validate adapts a Caddyfile site body and provisions it the way `caddy validate` does:
// every module is provisioned and cleaned up, nothing listens.
func validate(t *testing.T, siteBody string) error {
	t.Helper()
	cf := "{\n\tadmin off\n\tpersist_config off\n}\nhttp://127.0.0.1:1 {\n" + siteBody + "\n}\n"
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		return fmt.Errorf("adapt: %w", err)
	}
	return validateJSON(t, raw)
}

func validateJSON(t *testing.T, raw []byte) error {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}

// poolsEmpty fails the test if a store, key ring, key source or cache is still held.
func poolsEmpty(t *testing.T) {
	t.Helper()
	for name, p := range map[string]*caddy.UsagePool{"store": storePool, "ring": ringPool, "keys": keySourcePool, "cache": cachePool} {
		p.Range(func(k, _ any) bool {
			t.Errorf("%s pool still holds %v", name, k)
			return true
		})
	}
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
	poolsEmpty(t)
}

// Options only the JSON config can get wrong are checked at provisioning too.
func TestServerProvisionRefusesBadJSONValues(t *testing.T) {
	db := filepath.Join(t.TempDir(), "o.db")
	for handler, want := range map[string]string{
		`{"handler":"oauth_server","signing_alg":"HS256","storage":{"driver":"sqlite","dsn":%q}}`: "signing_alg",
		`{"handler":"oauth_server","storage":{"driver":"mysql","dsn":%q}}`:                        "storage",
	} {
		raw := fmt.Sprintf(`{"admin":{"disabled":true},"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:1"],"routes":[{"handle":[`+handler+`]}]}}}}}`, db)
		if err := validateJSON(t, []byte(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", handler, err)
		}
	}
	poolsEmpty(t)
}

func TestGuardProvisionErrorsNameTheOption(t *testing.T) {
	dir := t.TempDir()
	jwks := writeJWKS(t, dir)
	cases := []struct{ body, want string }{
		{"issuer http://a", "jwks"},
		{"jwks " + jwks, "issuer"},
		{"jwks " + filepath.Join(dir, "nope.json") + "\nissuer http://a", "jwks"},
		{"jwks " + filepath.Join(dir, "garbage.json") + "\nissuer http://a", "jwks"},
		{"jwks " + jwks + "\nissuer http://a\nheader \"X Bad\" v", "header"},
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
		if err := validateJSON(t, []byte(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", handler, err)
		}
	}
	poolsEmpty(t)
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
			poolsEmpty(t)
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
			if err != nil || len(list) != 1 {
				t.Fatalf("signing keys after two starts: %d %v", len(list), err)
			}
		})
	}
}

// writeJWKS writes the public JWKS of a fresh ES256 key and returns its path.
func writeJWKS(t *testing.T, dir string) string {
	t.Helper()
	ring, _ := testRing(t)
	p := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(p, ring.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func testRing(t testing.TB) (*keys.Ring, *store.SigningKey) {
	t.Helper()
	rec, err := keys.Generate(keys.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring := &keys.Ring{}
	if err := ring.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	return ring, rec
}

func signToken(t testing.TB, ring *keys.Ring, claims map[string]any) string {
	t.Helper()
	raw, _ := json.Marshal(claims)
	tok, err := ring.Signer().Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// provisionGuard provisions a guard outside a running Caddy.
func provisionGuard(t testing.TB, g *Guard) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := g.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Cleanup() })
}

// serve runs one request through the guard and reports the status and what the
// upstream saw (nil when it was not reached).
func serve(t testing.TB, g *Guard, token string, hdr map[string]string) (int, http.Header, *caddy.Replacer) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://api.test/orders", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	repl := caddy.NewReplacer()
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	var seen http.Header
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen = r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	rec := httptest.NewRecorder()
	if err := g.ServeHTTP(rec, req, next); err != nil {
		t.Fatal(err)
	}
	return rec.Code, seen, repl
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
			if err := validateJSON(t, raw); err != nil {
				t.Fatal(err)
			}
			poolsEmpty(t)
			logged, _ := os.ReadFile(logFile)
			warned := strings.Contains(string(logged), "issuer is not set") && strings.Contains(string(logged), `"level":"warn"`)
			if warned != c.warn {
				t.Errorf("warned %v, want %v; log:\n%s", warned, c.warn, logged)
			}
		})
	}
}
