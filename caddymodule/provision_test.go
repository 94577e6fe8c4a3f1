package caddymodule

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
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

func validateJSON(t *testing.T, raw []byte) error {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}

// poolsEmpty fails the test if a store, key ring, user database, purger, key source or
// cache is still held.
func poolsEmpty(t *testing.T) {
	t.Helper()
	for name, p := range map[string]*caddy.UsagePool{"store": storePool, "ring": ringPool, "user database": userDBPool, "purger": purgerPool,
		"keys": keySourcePool, "cache": cachePool, "feed": feedPool, "introspection cache": introspectionCachePool,
		"passport revocations": passportPool, "dpop": dpopPool} {
		p.Range(func(k, _ any) bool {
			t.Errorf("%s pool still holds %v", name, k)
			return true
		})
	}
	if n := IssuedTokenSubscribers(); n != 0 {
		t.Errorf("%d token caches still subscribed to issued tokens", n)
	}
}

// Options only the JSON config can get wrong are checked at provisioning too.
func TestServerProvisionRefusesBadJSONValues(t *testing.T) {
	db := filepath.Join(t.TempDir(), "o.db")
	for handler, want := range map[string]string{
		`{"handler":"oauth_server","signing_alg":"HS256","storage":{"driver":"sqlite","dsn":%q}}`:     "signing_alg",
		`{"handler":"oauth_server","storage":{"driver":"mysql","dsn":%q}}`:                            "storage",
		`{"handler":"oauth_server","access_token_ttl":-1,"storage":{"driver":"sqlite","dsn":%q}}`:     "access_token_ttl: must be positive",
		`{"handler":"oauth_server","session_ttl":-1,"storage":{"driver":"sqlite","dsn":%q}}`:          "session_ttl: must be positive",
		`{"handler":"oauth_server","purge_interval":-1,"storage":{"driver":"sqlite","dsn":%q}}`:       "purge_interval: must be positive",
		`{"handler":"oauth_server","users":[{"kind":"ldap"}],"storage":{"driver":"sqlite","dsn":%q}}`: `users users: kind "ldap"`,
	} {
		raw := fmt.Sprintf(`{"admin":{"disabled":true},"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:1"],"routes":[{"handle":[`+handler+`]}]}}}}}`, db)
		if err := validateJSON(t, []byte(raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", handler, err)
		}
	}
	poolsEmpty(t)
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
