package validator

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/scopes"
)

// passportKeys is a Passport key pair whose public half is on disk as oauth-public.key,
// the PEM file a Passport user points jwks at.
type passportKeys struct {
	*laravel.KeyPair
	file string
}

func newPassportKeys(t testing.TB, bits int) passportKeys {
	t.Helper()
	kp, err := laravel.NewKeyPair(bits)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "oauth-public.key")
	if err := os.WriteFile(file, kp.PublicKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return passportKeys{KeyPair: kp, file: file}
}

// passportToken mints a Passport token for testNow, as league/oauth2-server does.
func (k passportKeys) passportToken(user string, scopeList ...string) string {
	return k.Mint(laravel.AccessToken{
		ID: "9f8e7d", ClientID: "3", UserID: user, Scopes: scopeList,
		IssuedAt: testNow.Add(-250 * time.Millisecond), ExpiresAt: testNow.Add(time.Hour + 500*time.Millisecond),
	})
}

// signed signs claims under a header {"alg":"RS256"} plus typ when typ is not "-".
func (k passportKeys) signed(t testing.TB, typ string, claims map[string]any) string {
	t.Helper()
	hdr := `{"alg":"RS256"}`
	if typ != "-" {
		hdr = fmt.Sprintf(`{"typ":%q,"alg":"RS256"}`, typ)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return k.SignCompact(hdr, string(payload))
}

// The whole issuer × typ decision, for a guard without the passport option, one with it
// alone (what a Passport user writes) and one with it and an issuer (a guard taking both
// servers' tokens during a move). The rules the table pins:
//   - a typ no access token carries (dpop+jwt, logout+jwt, ...) is always refused;
//   - a token with an iss must name the configured issuer (none configured: refused) and,
//     whatever the mode, carry at+jwt: JWT or no typ from a known issuer is what an ID
//     token would look like (RFC 9068 §4, RFC 8725 §3.11);
//   - a token without iss passes only in passport mode, with typ JWT, at+jwt or none.
func TestVerifyPassportModeIssuerAndTypTable(t *testing.T) {
	k := newPassportKeys(t, 2048)
	src := newSource(t, k.file, KeySourceOptions{})
	const other = "https://other.example.com"
	modes := []struct {
		name     string
		passport bool
		issuer   string
	}{
		{"issuer only", false, testIssuer},
		{"passport only", true, ""},
		{"passport and issuer", true, testIssuer},
	}
	isses := []struct {
		name string
		iss  any // nil: no iss claim
	}{
		{"iss configured", testIssuer},
		{"no iss", nil},
		{"empty iss", ""},
		{"iss of another issuer", other},
	}
	typs := []string{"at+jwt", "application/at+jwt", "AT+JWT", "JWT", "jwt", "-", "dpop+jwt", "id_token+jwt", "logout+jwt", "secevent+jwt"}

	// want returns "" for a pass, else the refusal's description.
	want := func(passport bool, issuer string, iss any, typ string) string {
		at := strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt")
		plain := strings.EqualFold(typ, "JWT") || typ == "-"
		switch {
		case !at && !plain:
			return "not an access token"
		case iss == nil || iss == "":
			if !passport {
				return "token has no issuer"
			}
			return ""
		case iss != issuer:
			return "issuer mismatch"
		case !at:
			return "not an access token: typ must be at+jwt"
		}
		return ""
	}

	for _, m := range modes {
		v := newVerifier(t, src, func(o *JWTOptions) { o.Issuer, o.Passport = m.issuer, m.passport })
		for _, is := range isses {
			for _, typ := range typs {
				t.Run(fmt.Sprintf("%s/%s/typ %s", m.name, is.name, typ), func(t *testing.T) {
					c := map[string]any{
						"aud": "3", "jti": "9f8e7d", "sub": "7", "scopes": []string{"*"},
						"iat": float64(testNow.Unix()) - 0.25, "nbf": float64(testNow.Unix()) - 0.25,
						"exp": float64(testNow.Add(time.Hour).Unix()) + 0.5,
					}
					if is.iss != nil {
						c["iss"] = is.iss
					}
					id, err := v.Verify(context.Background(), k.signed(t, typ, c))
					w := want(m.passport, m.issuer, is.iss, typ)
					if w == "" {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						if id.UserID != "7" || id.ClientID != "3" || id.TokenID != "9f8e7d" {
							t.Fatalf("identity = %+v", id)
						}
						return
					}
					wantRefusal(t, err, InvalidToken, w)
				})
			}
		}
	}
}

// A token shaped as an OpenID Connect ID token (typ JWT, aud the client, nonce and
// auth_time, no scope) signed by this server's key with this server's iss is refused by
// every guard: it would otherwise pass a guard with no scope rule.
func TestVerifyRefusesIDTokenShapedTokensOfTheIssuer(t *testing.T) {
	k := newPassportKeys(t, 2048)
	src := newSource(t, k.file, KeySourceOptions{})
	idToken := map[string]any{
		"iss": testIssuer, "sub": "7", "aud": "3", "nonce": "n-0S6_WzA2Mj", "auth_time": testNow.Unix() - 60,
		"iat": testNow.Unix(), "exp": testNow.Add(time.Hour).Unix(), "azp": "3",
	}
	for _, passport := range []bool{false, true} {
		v := newVerifier(t, src, func(o *JWTOptions) { o.Passport = passport })
		for _, typ := range []string{"JWT", "-"} {
			_, err := v.Verify(context.Background(), k.signed(t, typ, idToken))
			wantRefusal(t, err, InvalidToken, "not an access token: typ must be at+jwt")
		}
	}
}

// Stock Passport tokens, minted byte for byte as league/oauth2-server mints them, pass a
// passport-mode verifier against oauth-public.key with the identity Passport meant; a
// verifier without the option refuses them.
func TestVerifyStockPassportTokens(t *testing.T) {
	k := newPassportKeys(t, 2048)
	src := newSource(t, k.file, KeySourceOptions{})
	v := newVerifier(t, src, func(o *JWTOptions) { o.Issuer, o.Passport = "", true })

	id, err := v.Verify(context.Background(), k.passportToken("7", "orders:read", "orders:write"))
	if err != nil {
		t.Fatal(err)
	}
	if id.UserID != "7" || id.ClientID != "3" || id.TokenID != "9f8e7d" || id.ScopeString != "orders:read orders:write" || id.Issuer != "" {
		t.Fatalf("identity = %+v", id)
	}
	if want := testNow.Add(time.Hour + 500*time.Millisecond); !id.ExpiresAt().Equal(want) {
		t.Fatalf("ExpiresAt = %v, want %v", id.ExpiresAt(), want)
	}
	id, err = v.Verify(context.Background(), k.passportToken("", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if id.IsUser() || id.ClientID != "3" || id.ScopeString != "*" {
		t.Fatalf("client credentials identity = %+v", id)
	}

	plain := newVerifier(t, src, nil)
	_, err = plain.Verify(context.Background(), k.passportToken("7", "*"))
	wantRefusal(t, err, InvalidToken, "token has no issuer")

	other := newPassportKeys(t, 2048)
	_, err = v.Verify(context.Background(), other.passportToken("7", "*"))
	wantRefusal(t, err, InvalidToken, "invalid signature")
}

// The verifier needs an issuer, or the passport option; with neither it is not built.
func TestNewJWTVerifierNeedsIssuerOrPassport(t *testing.T) {
	k := newPassportKeys(t, 2048)
	src := newSource(t, k.file, KeySourceOptions{})
	_, err := NewJWTVerifier(JWTOptions{Keys: src})
	if err == nil || !strings.Contains(err.Error(), "issuer is required") || !strings.Contains(err.Error(), "Passport") {
		t.Fatalf("err = %v", err)
	}
	if _, err := NewJWTVerifier(JWTOptions{Keys: src, Passport: true}); err != nil {
		t.Fatal(err)
	}
}

// A cached identity is re-checked on every hit: a Passport token that a passport-mode
// verifier cached does not pass a verifier without the option that shares the cache.
func TestCachedPassportTokenDoesNotPassAVerifierWithoutPassport(t *testing.T) {
	k := newPassportKeys(t, 2048)
	src := newSource(t, k.file, KeySourceOptions{})
	cache, err := NewTokenCache(100)
	if err != nil {
		t.Fatal(err)
	}
	pp := newVerifier(t, src, func(o *JWTOptions) { o.Passport, o.Cache = true, cache })
	plain := newVerifier(t, src, func(o *JWTOptions) { o.Cache = cache })
	tok := k.passportToken("7", "*")
	for range 3 { // cached from the second sighting on
		if _, err := pp.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := cache.Get(tok); !ok {
		t.Fatal("token not cached: the test would not exercise the cache hit")
	}
	_, err = plain.Verify(context.Background(), tok)
	wantRefusal(t, err, InvalidToken, "issuer mismatch")
}

// `*` in a Passport token's scopes array meets every scope rule of a guard, all and any;
// a token with only some of the scopes still gets insufficient_scope.
func TestGuardPassportWildcardMeetsEveryScopeRule(t *testing.T) {
	k := newPassportKeys(t, 2048)
	v := newVerifier(t, newSource(t, k.file, KeySourceOptions{}), func(o *JWTOptions) { o.Issuer, o.Passport = "", true })
	g, err := NewGuard(GuardOptions{Verifier: v, Subject: UserSubject, Scopes: []scopes.Rule{
		{Mode: scopes.All, Scopes: []string{"orders:read", "orders:write"}},
		{Mode: scopes.Any, Scopes: []string{"admin", "support"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := g.Check(bearerRequest("Bearer " + k.passportToken("7", "*")))
	if err != nil {
		t.Fatalf("token with *: %v", err)
	}
	if id.UserID != "7" || id.ClientID != "3" {
		t.Fatalf("identity = %+v", id)
	}
	for _, granted := range [][]string{{"orders:read", "orders:write"}, {"orders:read", "admin"}, nil} {
		_, err := g.Check(bearerRequest("Bearer " + k.passportToken("7", granted...)))
		wantRefusal(t, err, InsufficientScope, "")
	}
	// Subject rules read Passport's empty sub as a client token.
	_, err = g.Check(bearerRequest("Bearer " + k.passportToken("", "*")))
	wantRefusal(t, err, InvalidToken, "a user token is required")
}

// Passport mode lets a token without iss pass on its key alone, so the key is all that
// stands in the way: every classic forgery of an iss-less token is still refused.
func TestVerifyPassportModeRefusesForgeries(t *testing.T) {
	k := newPassportKeys(t, 2048)
	v := newVerifier(t, newSource(t, k.file, KeySourceOptions{}), func(o *JWTOptions) { o.Issuer, o.Passport = "", true })
	good := k.passportToken("7", "*")
	parts := strings.Split(good, ".")
	pem := k.PublicKeyPEM()
	other := newPassportKeys(t, 2048)
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"aud": "3", "jti": "j", "sub": "7", "scopes": []string{"*"}, "iat": testNow.Unix(), "exp": testNow.Add(time.Hour).Unix()}
		for n, val := range extra {
			if val == nil {
				delete(c, n)
			} else {
				c[n] = val
			}
		}
		return c
	}
	for _, c := range []struct{ name, token, desc string }{
		{"alg none", b64json(t, map[string]any{"typ": "JWT", "alg": "none"}) + "." + parts[1] + ".", "unsigned token"},
		{"HS256 keyed with oauth-public.key", signHMAC(t, pem, map[string]any{"typ": "JWT", "alg": "HS256"}, claims(nil)), "unsupported algorithm"},
		// Without kid, a key is chosen by alg, and the PEM key is pinned to RS256 only.
		{"PS256 header on the RS256-pinned key", b64json(t, map[string]any{"typ": "JWT", "alg": "PS256"}) + "." + parts[1] + "." + parts[2], "unknown signing key"},
		{"kid the PEM key does not have", k.SignCompact(`{"typ":"JWT","alg":"RS256","kid":"x"}`, string(mustJSON(t, claims(nil)))), "unknown signing key"},
		{"signed by another Passport's key", other.passportToken("7", "*"), "invalid signature"},
		{"payload swapped under a valid signature", parts[0] + "." + b64json(t, claims(map[string]any{"sub": "1"})) + "." + parts[2], "invalid signature"},
		{"expired", k.signed(t, "JWT", claims(map[string]any{"exp": float64(testNow.Add(-time.Minute).Unix()) + 0.5})), "token expired"},
		{"no exp", k.signed(t, "JWT", claims(map[string]any{"exp": nil})), "token has no expiry"},
		{"nbf ahead", k.signed(t, "JWT", claims(map[string]any{"nbf": float64(testNow.Add(time.Hour).Unix()) + 0.25})), "token not yet valid"},
		{"iss of another server", k.signed(t, "JWT", claims(map[string]any{"iss": "https://laravel.example.com"})), "issuer mismatch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), c.token)
			wantRefusal(t, err, InvalidToken, c.desc)
		})
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
