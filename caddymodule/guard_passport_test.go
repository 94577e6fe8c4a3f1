package caddymodule

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/laravel"
)

// passportFixture is Passport's oauth-public.key on disk and its key pair to mint tokens.
type passportFixture struct {
	publicKey string
	keys      *laravel.KeyPair
}

func newPassportFixture(t testing.TB) passportFixture {
	t.Helper()
	kp, err := laravel.NewKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "oauth-public.key")
	if err := os.WriteFile(p, kp.PublicKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return passportFixture{publicKey: p, keys: kp}
}

func (f passportFixture) mint(user string, scopes ...string) (tok, id string) {
	now := time.Now()
	id = laravel.NewTokenID()
	return f.keys.Mint(laravel.AccessToken{
		ID: id, ClientID: "3", UserID: user, Scopes: scopes,
		IssuedAt: now.Add(-time.Second), ExpiresAt: now.Add(time.Hour + 250*time.Millisecond),
	}), id
}

// The obvious first attempt of a Passport user, jwks with no issuer, fails at start-up
// with an error that names the line to add; `passport` without jwks has nothing to
// check tokens with and says so.
func TestGuardProvisionErrorsNameThePassportLine(t *testing.T) {
	f := newPassportFixture(t)
	for _, c := range []struct {
		name string
		g    Guard
		want []string
	}{
		{"jwks without issuer or passport", Guard{JWKS: f.publicKey}, []string{"issuer", "`passport`", `"passport": true`}},
		{"passport without jwks", Guard{Passport: true, Introspect: &IntrospectConfig{URL: "http://127.0.0.1:1/i", ClientID: "a", ClientSecret: "b"}}, []string{"passport", "jwks", "oauth-public.key"}},
		{"passport alone", Guard{Passport: true}, []string{"jwks"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := c.g
			err := g.Provision(newCaddyContext(t))
			if err == nil {
				_ = g.Cleanup()
				t.Fatal("provisioned")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// Configured from JSON as the Caddyfile's `passport` line writes it, the guard passes
// stock Passport tokens and sets the identity headers from them: sub is the user (absent
// for a client credentials token, whose sub is ""), aud the client, the scopes array
// the scopes, jti the token id. `*` meets every scope rule.
func TestGuardPassportModeSetsIdentityFromPassportTokens(t *testing.T) {
	f := newPassportFixture(t)
	var g Guard
	cfg := `{"jwks":` + jsonQuote(f.publicKey) + `,"passport":true,"scopes":[{"mode":"all","scopes":["orders:read"]}]}`
	if err := json.Unmarshal([]byte(cfg), &g); err != nil {
		t.Fatal(err)
	}
	provisionGuard(t, &g)

	user, userID := f.mint("7", "orders:read", "orders:write")
	code, seen, repl := serve(t, &g, user, map[string]string{"X-OAuth-User-Id": "admin"})
	if code != http.StatusNoContent {
		t.Fatalf("user token: status %d", code)
	}
	for k, v := range map[string]string{
		"X-Oauth-User-Id": "7", "X-Oauth-Client-Id": "3", "X-Oauth-Scopes": "orders:read orders:write", "X-Oauth-Token-Id": userID,
	} {
		if got := seen.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("user token: header %s = %q, want %q", k, got, v)
		}
	}
	if got, _ := repl.GetString("http.auth.user.id"); got != "7" {
		t.Errorf("user token: {http.auth.user.id} = %q", got)
	}

	client, clientID := f.mint("", "*")
	code, seen, repl = serve(t, &g, client, map[string]string{"X-OAuth-User-Id": "admin"})
	if code != http.StatusNoContent {
		t.Fatalf("client token with *: status %d", code)
	}
	if _, ok := seen["X-Oauth-User-Id"]; ok {
		t.Errorf("client token: X-OAuth-User-Id reached the upstream: %q", seen.Values("X-Oauth-User-Id"))
	}
	for k, v := range map[string]string{"X-Oauth-Client-Id": "3", "X-Oauth-Scopes": "*", "X-Oauth-Token-Id": clientID} {
		if got := seen.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("client token: header %s = %q, want %q", k, got, v)
		}
	}
	if got, _ := repl.GetString("http.auth.user.id"); got != "3" {
		t.Errorf("client token: {http.auth.user.id} = %q, want the client id", got)
	}

	short, _ := f.mint("7", "orders:write")
	if code, seen, _ := serve(t, &g, short, nil); code != http.StatusForbidden || seen != nil {
		t.Errorf("token without orders:read: status %d, upstream reached %v", code, seen != nil)
	}
}

// The same Passport token, to a guard configured the old way (jwks and an issuer, no
// passport line), is refused: without the opt-in a token with no iss never passes.
func TestGuardWithoutPassportRefusesPassportTokens(t *testing.T) {
	f := newPassportFixture(t)
	g := &Guard{JWKS: f.publicKey, Issuer: guardIssuer}
	provisionGuard(t, g)
	tok, _ := f.mint("7", "*")
	if code, seen, _ := serve(t, g, tok, nil); code != http.StatusUnauthorized || seen != nil {
		t.Fatalf("status %d, upstream reached %v", code, seen != nil)
	}
}

// A guard in passport mode and a guard without it, on the same key file, issuer and
// audience, do not share their verified-token cache: the cache key names the mode.
func TestGuardPassportModeDoesNotShareTheCacheOfAGuardWithout(t *testing.T) {
	f := newPassportFixture(t)
	both := &Guard{JWKS: f.publicKey, Issuer: guardIssuer, Passport: true}
	provisionGuard(t, both)
	plain := &Guard{JWKS: f.publicKey, Issuer: guardIssuer}
	provisionGuard(t, plain)
	if both.cacheKey == plain.cacheKey || both.cache == plain.cache {
		t.Fatalf("one cache for both modes: %q", both.cacheKey)
	}
	tok, _ := f.mint("7", "*")
	for range 3 { // cached from the second sighting on
		if code, _, _ := serve(t, both, tok, nil); code != http.StatusNoContent {
			t.Fatalf("passport guard: status %d", code)
		}
	}
	if _, ok := both.cache.Get(tok); !ok {
		t.Fatal("token not cached by the passport guard: the test would prove nothing")
	}
	if _, ok := plain.cache.Get(tok); ok {
		t.Fatal("the guard without passport sees the passport guard's cache entry")
	}
	if code, _, _ := serve(t, plain, tok, nil); code != http.StatusUnauthorized {
		t.Fatalf("guard without passport, after the other cached the token: status %d", code)
	}
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
