package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func newCaddyContext(t *testing.T) caddy.Context {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	return ctx
}

func TestGuardIntrospectProvisionErrorsNameTheOption(t *testing.T) {
	intro := func(mut func(*IntrospectConfig)) *IntrospectConfig {
		ic := &IntrospectConfig{URL: "http://127.0.0.1:1/oauth/introspect", ClientID: "edge", ClientSecret: "s"}
		if mut != nil {
			mut(ic)
		}
		return ic
	}
	cases := []struct {
		name string
		g    Guard
		want string
	}{
		{"neither jwks nor introspect", Guard{}, "jwks: a JWKS URL or file is required (or an introspect endpoint)"},
		{"jwks without issuer", Guard{JWKS: "http://127.0.0.1:1/jwks"}, "issuer: required with jwks"},
		{"introspect without url", Guard{Introspect: intro(func(c *IntrospectConfig) { c.URL = "" })}, "introspect: the endpoint URL is required"},
		{"introspect bad url", Guard{Introspect: intro(func(c *IntrospectConfig) { c.URL = "ftp://x" })}, `introspect "ftp://x": not an http(s) URL`},
		{"introspect without client_id", Guard{Introspect: intro(func(c *IntrospectConfig) { c.ClientID = "" })}, "introspect: client_id is required"},
		{"introspect without secret", Guard{Introspect: intro(func(c *IntrospectConfig) { c.ClientSecret = "{env.IT_UNSET_SECRET}" })}, "introspect: client_secret is required"},
		{"introspect bad token_url", Guard{Introspect: intro(func(c *IntrospectConfig) { c.TokenURL = "nope" })}, "introspect: token_url"},
		{"revocations without creds in JWT mode", Guard{JWKS: "http://127.0.0.1:1/jwks", Issuer: "x", Revocations: &RevocationsConfig{URL: "http://127.0.0.1:1/r"}}, "revocations: client_id is required"},
		{"revocations without url", Guard{Introspect: intro(nil), Revocations: &RevocationsConfig{}}, "revocations: the feed URL is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g
			err := g.Provision(newCaddyContext(t))
			if err == nil {
				_ = g.Cleanup()
				t.Fatal("provisioned")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestGuardIntrospectionOnlyModeNeedsNoJWKSAndRefusesWith503WhenUnreachable provisions
// a guard whose introspection endpoint is down: every request is refused with 503 and
// Retry-After, and the outcome is counted; a second guard in the same config and a
// "reload" into a new registry register the metrics without error.
func TestGuardIntrospectionOnlyModeRefusesWith503WhenUnreachable(t *testing.T) {
	ctx := newCaddyContext(t)
	mk := func() *Guard {
		g := &Guard{Introspect: &IntrospectConfig{URL: "http://127.0.0.1:1/oauth/introspect", ClientID: "edge", ClientSecret: "s",
			Timeout: caddy.Duration(500 * time.Millisecond)},
			Revocations: &RevocationsConfig{URL: "http://127.0.0.1:1/oauth/revocations"}}
		if err := g.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Cleanup() })
		return g
	}
	g, _ := mk(), mk()
	reloaded := newCaddyContext(t)
	if err := g.metrics.register(reloaded.GetMetricsRegistry()); err != nil {
		t.Fatalf("registering into a second registry: %v", err)
	}
	before := counterValue(t, g.metrics.outcome[reasonUnavailable])
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer opaque-token")
	repl := caddy.NewReplacer()
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, repl))
	rec := httptest.NewRecorder()
	passed := false
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { passed = true; return nil })
	if err := g.ServeHTTP(rec, req, next); err != nil {
		t.Fatal(err)
	}
	if passed || rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("passed %v, status %d, Retry-After %q", passed, rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := counterValue(t, g.metrics.outcome[reasonUnavailable]) - before; got != 1 {
		t.Fatalf("unavailable outcomes counted: %v, want 1", got)
	}
	// The registry the guard was provisioned with gathers cleanly (it is pedantic), with
	// one feed series although two guards share the feed.
	families, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	found := false
	for _, f := range families {
		if f.GetName() == "caddy_oauth_guard_revocation_feed_lag_seconds" {
			found = len(f.GetMetric()) == 1
		}
	}
	if !found {
		t.Fatal("no single revocation feed lag series")
	}
}

// counterValue reads a counter's current value.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// The JWT token caches report how many tokens they hold: none after a token's first use,
// one after its second (a token is cached from its second sighting).
func TestGuardReportsCachedTokens(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer}
	provisionGuard(t, g)
	reg := prometheus.NewPedanticRegistry()
	if err := g.metrics.register(reg); err != nil {
		t.Fatal(err)
	}
	cached := func() float64 {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range families {
			if fam.GetName() == "caddy_oauth_guard_cached_tokens" {
				return fam.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no caddy_oauth_guard_cached_tokens series")
		return 0
	}
	tok := f.sign(claims(nil))
	for use, want := range []float64{0, 1, 1} {
		if code, _, _ := serve(t, g, tok, nil); code != http.StatusNoContent {
			t.Fatalf("status %d", code)
		}
		if got := cached(); got != want {
			t.Fatalf("after use %d: %v cached tokens, want %v", use+1, got, want)
		}
	}
}
