package authserver_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

// rawReply is an answer with its body as sent.
type rawReply struct {
	Status int
	Header http.Header
	Raw    string
	Body   map[string]any
}

// basic is an HTTP Basic Authorization value, credentials form-encoded as RFC 6749 asks.
func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func bearer(token string) string { return "Bearer " + token }

// send posts form to path on base with an Authorization header (none when auth is "").
func send(t testing.TB, base, path string, form url.Values, auth string) rawReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return doRaw(t, http.DefaultClient, req)
}

// doRaw sends req with client and returns the answer, its body raw and decoded.
func doRaw(t testing.TB, client *http.Client, req *http.Request) rawReply {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return rawReply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw), Body: body}
}

func (f *fixture) introspect(token, auth string) rawReply {
	f.t.Helper()
	return send(f.t, f.ts.URL, authserver.PathIntrospect, url.Values{"token": {token}}, auth)
}

// ccToken gets a client credentials access token.
func (f *fixture) ccToken(id, secret string) string {
	f.t.Helper()
	r := f.post(url.Values{"grant_type": {"client_credentials"}}, id, secret)
	if r.Status != 200 {
		f.t.Fatalf("client credentials for %s: %d %v", id, r.Status, r.Body)
	}
	return r.Body["access_token"].(string)
}

// userTokens gets an access and refresh token for the user through client app.
func (f *fixture) userTokens() (access, refresh string) {
	f.t.Helper()
	r := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {"orders:read orders:write"}}, "app", pwSecret)
	if r.Status != 200 {
		f.t.Fatalf("password grant: %d %v", r.Status, r.Body)
	}
	return r.Body["access_token"].(string), r.Body["refresh_token"].(string)
}

// wantInactive fails unless the answer is exactly {"active":false}.
func wantInactive(t *testing.T, what string, r rawReply) {
	t.Helper()
	if r.Status != 200 || strings.TrimSpace(r.Raw) != `{"active":false}` {
		t.Errorf("%s: got %d %s, want 200 {\"active\":false}", what, r.Status, r.Raw)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q", what, r.Header.Get("Cache-Control"))
	}
}

func TestIntrospectActiveUserTokenAnswersEveryRFC7662Field(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		access, _ := f.userTokens()
		_, claims := f.claims(access)
		rsToken := f.ccToken("rs", rsSecret)
		for name, auth := range map[string]string{"Basic": basic("rs", rsSecret), "Bearer": bearer(rsToken)} {
			r := f.introspect(access, auth)
			if r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s: %d %s", name, r.Status, r.Raw)
			}
			want := map[string]any{
				"active": true, "scope": "orders:read orders:write", "client_id": "app", "sub": f.userID,
				"username": userEmail, "token_type": "Bearer", "iss": testIssuer, "jti": claims["jti"],
				"exp": claims["exp"], "iat": claims["iat"], "nbf": claims["nbf"], "provider": "users",
			}
			for k, v := range want {
				if r.Body[k] != v {
					t.Errorf("%s: %s = %v, want %v", name, k, r.Body[k], v)
				}
			}
			if aud, _ := json.Marshal(r.Body["aud"]); string(aud) != `["app"]` {
				t.Errorf("%s: aud %s", name, aud)
			}
		}
	})
}

func TestIntrospectClientTokenHasNoUsername(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		r := f.introspect(f.ccToken("svc", ccSecret), basic("rs", rsSecret))
		if r.Body["active"] != true || r.Body["sub"] != "svc" || r.Body["client_id"] != "svc" {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		if _, has := r.Body["username"]; has {
			t.Errorf("client token has a username: %s", r.Raw)
		}
	})
}

func TestIntrospectRefreshTokenIsActiveUntilRotated(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		_, refresh := f.userTokens()
		r := f.introspect(refresh, basic("rs", rsSecret))
		if r.Body["active"] != true || r.Body["token_type"] != authserver.TokenTypeRefresh || r.Body["client_id"] != "app" ||
			r.Body["sub"] != f.userID || r.Body["username"] != userEmail || r.Body["scope"] != "orders:read orders:write" {
			t.Fatalf("refresh token: %d %s", r.Status, r.Raw)
		}
		if _, has := r.Body["jti"]; has {
			t.Errorf("a refresh token's stored id was given out: %s", r.Raw)
		}
		// With either hint, and with a wrong one, the answer is the same.
		for _, hint := range []string{"refresh_token", "access_token", "bogus"} {
			r := send(t, f.ts.URL, authserver.PathIntrospect, url.Values{"token": {refresh}, "token_type_hint": {hint}}, basic("rs", rsSecret))
			if r.Body["active"] != true {
				t.Errorf("hint %s: %s", hint, r.Raw)
			}
		}
		if r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "app", pwSecret); r.Status != 200 {
			t.Fatalf("refresh: %d %v", r.Status, r.Body)
		}
		wantInactive(t, "rotated refresh token", f.introspect(refresh, basic("rs", rsSecret)))
	})
}

func TestIntrospectInactiveTokensRevealNothingButActiveFalse(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		access, refresh := f.userTokens()
		auth := basic("rs", rsSecret)

		// Same claims, signed by a key that is not the server's.
		foreign := &keys.Ring{}
		rec, err := keys.Generate(keys.ES256, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := foreign.Load(nil, time.Hour, time.Now()); err == nil {
			t.Fatal("loading no keys succeeded")
		}
		if err := foreign.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
			t.Fatal(err)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[1])
		forged, err := foreign.Signer().Sign(payload)
		if err != nil {
			t.Fatal(err)
		}

		parts := strings.Split(access, ".")
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"orders:read orders:write"`, `"*"`, 1))) + "." + parts[2]
		noneHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`))

		for name, tok := range map[string]string{
			"foreign signature": forged,
			"tampered payload":  tampered,
			"alg none":          noneHdr + "." + parts[1] + ".",
			"garbage jwt":       "a.b.c",
			"unknown refresh":   "bm90LWEtcmVmcmVzaC10b2tlbg",
			"refresh as jwt":    refresh + ".x",
		} {
			wantInactive(t, name, f.introspect(tok, auth))
		}

		// Expired: the same server state an hour and a bit later.
		later := f.cfg
		later.Now = func() time.Time { return time.Now().Add(61 * time.Minute) }
		srv, err := authserver.New(later)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		wantInactive(t, "expired access token", send(t, ts.URL, authserver.PathIntrospect, url.Values{"token": {access}}, auth))
		muchLater := f.cfg
		muchLater.Now = func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }
		srv2, _ := authserver.New(muchLater)
		ts2 := httptest.NewServer(srv2)
		defer ts2.Close()
		wantInactive(t, "expired refresh token", send(t, ts2.URL, authserver.PathIntrospect, url.Values{"token": {refresh}}, auth))

		// Revoked.
		if r := send(t, f.ts.URL, authserver.PathRevoke, url.Values{"token": {access}}, basic("app", pwSecret)); r.Status != 200 {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		wantInactive(t, "revoked access token", f.introspect(access, auth))
		wantInactive(t, "refresh token of a revoked access token", f.introspect(refresh, auth))
	})
}

// Only a client allowed to introspect, proving it with its secret or with a token it got
// for itself by client credentials, may introspect; every refusal is a 401 and changes
// nothing.
func TestIntrospectRefusesEveryoneButIntrospectingClients(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		target := f.ccToken("svc", ccSecret)
		svcToken := f.ccToken("svc", ccSecret)
		// A token of the introspecting client itself, but a user's (password grant).
		r := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "rs", rsSecret)
		if r.Status != 200 {
			t.Fatalf("password grant for rs: %d %v", r.Status, r.Body)
		}
		rsUserToken := r.Body["access_token"].(string)
		revokedRS := f.ccToken("rs", rsSecret)
		if r := send(t, f.ts.URL, authserver.PathRevoke, url.Values{"token": {revokedRS}}, basic("rs", rsSecret)); r.Status != 200 {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		_, appRefresh := f.userTokens()

		// The resource server's own good credentials are remembered for a while; that
		// must not let a wrong secret or another client through.
		if r := f.introspect(target, basic("rs", rsSecret)); r.Body["active"] != true {
			t.Fatalf("good credentials: %d %s", r.Status, r.Raw)
		}
		before := f.dump()
		cases := []struct {
			name, auth, code string
		}{
			{"no credentials", "", "invalid_client"},
			{"client without the introspect flag", basic("svc", ccSecret), "invalid_client"},
			{"wrong secret", basic("rs", "wrong-secret-0123456789"), "invalid_client"},
			{"unknown client", basic("ghost", rsSecret), "invalid_client"},
			{"public client by id alone", basic("pub", ""), "invalid_client"},
			{"client credentials token of a client without the flag", bearer(svcToken), "invalid_token"},
			{"password grant token of the introspecting client", bearer(rsUserToken), "invalid_token"},
			{"revoked token of the introspecting client", bearer(revokedRS), "invalid_token"},
			{"refresh token as bearer", bearer(appRefresh), "invalid_token"},
			{"garbage bearer", bearer("x.y.z"), "invalid_token"},
			{"empty bearer", "Bearer ", "invalid_token"},
			{"other scheme", "Digest username=rs", "invalid_client"},
		}
		for _, c := range cases {
			r := f.introspect(target, c.auth)
			if r.Status != 401 || r.Body["error"] != c.code {
				t.Errorf("%s: got %d %s, want 401 %s", c.name, r.Status, r.Raw, c.code)
			}
			if _, leaked := r.Body["active"]; leaked {
				t.Errorf("%s: answered about the token", c.name)
			}
			if len(r.Header.Values("WWW-Authenticate")) == 0 {
				t.Errorf("%s: no WWW-Authenticate", c.name)
			}
		}
		if after := f.dump(); after != before {
			t.Fatalf("refused introspections changed the store:\nbefore %s\nafter  %s", before, after)
		}
	})
}

func TestIntrospectRequestErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		if r := send(t, f.ts.URL, authserver.PathIntrospect, url.Values{}, auth); r.Status != 400 || r.Body["error"] != "invalid_request" {
			t.Errorf("no token: %d %s", r.Status, r.Raw)
		}
		if r := send(t, f.ts.URL, authserver.PathIntrospect, url.Values{"token": {"a", "b"}}, auth); r.Status != 400 || r.Body["error"] != "invalid_request" {
			t.Errorf("repeated token: %d %s", r.Status, r.Raw)
		}
		req, _ := http.NewRequest(http.MethodGet, f.ts.URL+authserver.PathIntrospect+"?token=x", nil)
		req.Header.Set("Authorization", auth)
		if r := f.do(req); r.Status != 405 {
			t.Errorf("GET: %d", r.Status)
		}
	})
}

// A resource server's authentication is remembered, so its own token revoked elsewhere
// (another node, the CLI) still works for at most ten seconds; revoked through this
// server, it stops working at once.
func TestIntrospectionCallerIsRememberedForTenSecondsAtMost(t *testing.T) {
	clk := &clock{t: time.Now()}
	eachStoreWith(t, func(c *authserver.Config) { c.Now = clk.now }, func(t *testing.T, f *fixture) {
		target := f.ccToken("svc", ccSecret)
		rs := f.ccToken("rs", rsSecret)
		if r := f.introspect(target, bearer(rs)); r.Body["active"] != true {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		// Revoked behind the server's back, as another node would.
		_, cl := f.claims(rs)
		if err := f.st.RevokeAccessToken(context.Background(), cl["jti"].(string)); err != nil {
			t.Fatal(err)
		}
		if r := f.introspect(target, bearer(rs)); r.Status != 200 {
			t.Fatalf("within the caller cache time: %d %s", r.Status, r.Raw)
		}
		clk.advance(11 * time.Second)
		if r := f.introspect(target, bearer(rs)); r.Status != 401 {
			t.Fatalf("revoked caller token accepted after 11s: %d %s", r.Status, r.Raw)
		}

		// Revoked through this server: refused at once.
		rs2 := f.ccToken("rs", rsSecret)
		if r := f.introspect(target, bearer(rs2)); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		if r := f.revoke(url.Values{"token": {rs2}}, basic("rs", rsSecret)); r.Status != 200 {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		if r := f.introspect(target, bearer(rs2)); r.Status != 401 {
			t.Fatalf("caller token revoked here still accepted: %d %s", r.Status, r.Raw)
		}
	})
}
