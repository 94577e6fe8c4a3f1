package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// passportKeysDir writes Passport's storage/oauth-private.key and oauth-public.key (as
// `php artisan passport:keys` does) and returns the folder.
func passportKeysDir(t *testing.T, kp *laravel.KeyPair) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "oauth-private.key"), kp.PrivateKeyPKCS1PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oauth-public.key"), kp.PublicKeyPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// passportToken mints a stock Passport access token for client 3, valid for an hour
// unless exp says otherwise.
func passportToken(kp *laravel.KeyPair, user string, exp time.Time, scopes ...string) (token, id string) {
	id = laravel.NewTokenID()
	now := time.Now()
	// Fractions of a second, as lcobucci/jwt writes them: floats in iat, nbf and exp.
	return kp.Mint(laravel.AccessToken{
		ID: id, ClientID: "3", UserID: user, Scopes: scopes,
		IssuedAt: now.Add(-1500 * time.Millisecond), ExpiresAt: exp,
	}), id
}

// A guard in front of a running Passport app, written as a Passport user writes it: jwks
// naming Passport's oauth-public.key (PEM, RSA 4096 as passport:keys makes it) and the
// one line `passport`, no issuer. Through real Caddy, with tokens minted byte for byte
// as Passport mints them: a valid token reaches the upstream with the identity headers
// (user from sub, client from aud, scopes from the array, token id from jti; no user
// header for a client credentials token); a missing scope is 403; an expired token and
// one signed by another key are 401, and neither reaches the upstream.
func TestGuardInFrontOfPassportAcceptsItsTokens(t *testing.T) {
	kp, err := laravel.NewKeyPair(4096)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := laravel.NewKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := passportKeysDir(t, kp)
	api := freePort(t)
	up := newUpstream(t)
	startCaddy(t, fmt.Sprintf(caddyGlobals+`
http://127.0.0.1:%d {
	oauth_guard {
		jwks %s
		passport
		scopes all orders:read
	}
	reverse_proxy %s
}`, api, filepath.Join(dir, "oauth-public.key"), strings.TrimPrefix(up.URL, "http://")))
	url := fmt.Sprintf("http://127.0.0.1:%d/orders", api)
	hour := time.Now().Add(time.Hour + 123456*time.Microsecond)
	spoof := map[string]string{"X-OAuth-User-Id": "1", "X-OAuth-Client-Id": "spoof", "X-OAuth-Scopes": "*"}

	t.Run("user token", func(t *testing.T) {
		tok, id := passportToken(kp, "7", hour, "orders:read", "orders:write")
		r := call(t, "GET", url, tok, spoof)
		if r.status != 200 {
			t.Fatalf("status %d %v (www-authenticate %q)", r.status, r.body, r.header.Get("WWW-Authenticate"))
		}
		h, _ := up.seen()
		for name, want := range map[string]string{
			"X-Oauth-User-Id": "7", "X-Oauth-Client-Id": "3", "X-Oauth-Scopes": "orders:read orders:write", "X-Oauth-Token-Id": id,
		} {
			if got := h.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("upstream %s = %q, want %q", name, got, want)
			}
		}
	})
	t.Run("client credentials token with *", func(t *testing.T) {
		tok, id := passportToken(kp, "", hour, "*")
		r := call(t, "GET", url, tok, spoof)
		if r.status != 200 {
			t.Fatalf("status %d %v", r.status, r.body)
		}
		h, _ := up.seen()
		if v, ok := h["X-Oauth-User-Id"]; ok {
			t.Errorf("a client token sent X-OAuth-User-Id %q upstream", v)
		}
		for name, want := range map[string]string{"X-Oauth-Client-Id": "3", "X-Oauth-Scopes": "*", "X-Oauth-Token-Id": id} {
			if got := h.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("upstream %s = %q, want %q", name, got, want)
			}
		}
	})

	expired, _ := passportToken(kp, "7", time.Now().Add(-time.Hour), "orders:read")
	forged, _ := passportToken(stranger, "7", hour, "orders:read")
	for _, c := range []struct {
		name, token string
		status      int
		code        string
	}{
		{"scope missing", func() string { tok, _ := passportToken(kp, "7", hour, "orders:write"); return tok }(), 403, "insufficient_scope"},
		{"expired", expired, 401, "invalid_token"},
		{"signed by another key", forged, 401, "invalid_token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, before := up.seen()
			r := call(t, "GET", url, c.token, nil)
			if r.status != c.status || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="`+c.code+`"`) {
				t.Fatalf("status %d, WWW-Authenticate %q; want %d %s", r.status, r.header.Get("WWW-Authenticate"), c.status, c.code)
			}
			if _, after := up.seen(); after != before {
				t.Fatal("the upstream was reached")
			}
		})
	}
}

// This server signs with Passport's key (`keys` naming Passport's storage folder), as
// after a move. A guard without `passport` takes only this server's access tokens: a
// token of its issuer that says typ JWT or no typ, the shape of an OpenID Connect ID
// token, is 401 even when its signature and claims are good, and so is a stock Passport
// token (no iss). A guard with `passport` and the issuer takes this server's tokens and
// Passport's, and still refuses the ID-token-shaped ones and tokens of another issuer.
func TestGuardTakesOnlyAccessTokensOfItsIssuer(t *testing.T) {
	t.Setenv("IT_SVC_SECRET", svcSecret)
	kp, err := laravel.NewKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := passportKeysDir(t, kp)
	auth, strict, both := freePort(t), freePort(t), freePort(t)
	up := newUpstream(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
	guard := func(port int, extra string) string {
		return fmt.Sprintf(`
http://127.0.0.1:%d {
	oauth_guard {
		jwks %s/.well-known/jwks.json
		issuer %s
		%s
	}
	reverse_proxy %s
}`, port, issuer, issuer, extra, strings.TrimPrefix(up.URL, "http://"))
	}
	startCaddy(t, fmt.Sprintf(caddyGlobals+`
http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		storage sqlite %q
		keys %s
		scope orders:read Read your orders
		client svc {
			secret {env.IT_SVC_SECRET}
			grants client_credentials
		}
	}
}`, auth, issuer, testdb.SQLitePath(t), dir)+guard(strict, "")+guard(both, "passport"))
	s := &site{issuer: issuer, tokenURL: issuer + "/oauth/token", up: up}
	real := s.clientToken(t, s.tokenURL, "orders:read")
	kid := tokenKid(t, real)

	now := time.Now()
	forge := func(header string, claims map[string]any) string {
		raw, err := json.Marshal(claims)
		if err != nil {
			t.Fatal(err)
		}
		return kp.SignCompact(header, string(raw))
	}
	// An ID token as an OpenID Connect server would sign it with these keys.
	idClaims := map[string]any{
		"iss": issuer, "sub": "7", "aud": "svc", "azp": "svc", "nonce": "n-0S6_WzA2Mj",
		"auth_time": now.Unix() - 60, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	atClaims := map[string]any{
		"iss": issuer, "sub": "svc", "aud": "svc", "client_id": "svc", "jti": "forged-but-well-signed",
		"scope": "orders:read", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	otherIss := map[string]any{}
	for k, v := range atClaims {
		otherIss[k] = v
	}
	otherIss["iss"] = "https://laravel.example.com"
	passport, _ := passportToken(kp, "7", now.Add(time.Hour), "orders:read")

	tokens := []struct {
		name         string
		token        string
		strict, both int
	}{
		{"this server's token", real, 200, 200},
		{"typ at+jwt with this server's kid (control: the forge is otherwise good)", forge(`{"typ":"at+jwt","alg":"RS256","kid":"`+kid+`"}`, atClaims), 200, 200},
		{"ID token, typ JWT", forge(`{"typ":"JWT","alg":"RS256","kid":"`+kid+`"}`, idClaims), 401, 401},
		{"ID token, no typ", forge(`{"alg":"RS256","kid":"`+kid+`"}`, idClaims), 401, 401},
		{"access-token claims, typ JWT", forge(`{"typ":"JWT","alg":"RS256","kid":"`+kid+`"}`, atClaims), 401, 401},
		{"access-token claims, no typ, no kid", forge(`{"alg":"RS256"}`, atClaims), 401, 401},
		{"another issuer, typ at+jwt", forge(`{"typ":"at+jwt","alg":"RS256","kid":"`+kid+`"}`, otherIss), 401, 401},
		{"another issuer, typ JWT", forge(`{"typ":"JWT","alg":"RS256"}`, otherIss), 401, 401},
		{"stock Passport token (no iss, no kid)", passport, 401, 200},
	}
	for _, c := range tokens {
		t.Run(c.name, func(t *testing.T) {
			for _, g := range []struct {
				name string
				port int
				want int
			}{{"guard without passport", strict, c.strict}, {"guard with passport and issuer", both, c.both}} {
				_, before := up.seen()
				r := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/orders", g.port), c.token, nil)
				if r.status != g.want {
					t.Errorf("%s: status %d (WWW-Authenticate %q), want %d", g.name, r.status, r.header.Get("WWW-Authenticate"), g.want)
					continue
				}
				_, after := up.seen()
				if reached := after != before; reached != (g.want == 200) {
					t.Errorf("%s: upstream reached = %v", g.name, reached)
				}
				if g.want == 401 && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("%s: WWW-Authenticate %q", g.name, r.header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

// tokenKid reads the kid of a JWT's header, and checks this server writes typ at+jwt.
func tokenKid(t *testing.T, tok string) string {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	var h struct{ Kid, Typ string }
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	if h.Kid == "" || h.Typ != "at+jwt" {
		t.Fatalf("server token header kid %q typ %q", h.Kid, h.Typ)
	}
	return h.Kid
}
