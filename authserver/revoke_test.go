package authserver_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

func (f *fixture) revoke(form url.Values, auth string) rawReply {
	f.t.Helper()
	return send(f.t, f.ts.URL, authserver.PathRevoke, form, auth)
}

// jtiOf returns the jti of one of the server's access tokens.
func (f *fixture) jtiOf(access string) string {
	f.t.Helper()
	_, cl := f.claims(access)
	return cl["jti"].(string)
}

func TestRevokeAccessTokenRevokesItsRefreshToken(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		access, refresh := f.userTokens()
		other, otherRefresh := f.userTokens()
		r := f.revoke(url.Values{"token": {access}, "token_type_hint": {"access_token"}}, basic("app", pwSecret))
		if r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		ctx := context.Background()
		at, err := f.st.GetAccessToken(ctx, f.jtiOf(access))
		if err != nil || !at.Revoked {
			t.Fatalf("access token not revoked: %+v %v", at, err)
		}
		rt, err := f.st.GetRefreshToken(ctx, authserver.Digest(refresh))
		if err != nil || !rt.Revoked {
			t.Fatalf("refresh token not revoked: %+v %v", rt, err)
		}
		if r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "app", pwSecret); r.Status != 400 {
			t.Fatalf("refresh with the revoked pair's refresh token: %d %v", r.Status, r.Body)
		}
		// The user's other grant is untouched.
		if at, _ := f.st.GetAccessToken(ctx, f.jtiOf(other)); at.Revoked {
			t.Fatal("another access token was revoked")
		}
		if rt, _ := f.st.GetRefreshToken(ctx, authserver.Digest(otherRefresh)); rt.Revoked {
			t.Fatal("another refresh token was revoked")
		}
	})
}

// Revoking a refresh token revokes its grant: the refresh tokens rotated from it and every
// access token issued along the way (RFC 7009 §2.1).
func TestRevokeRefreshTokenRevokesEveryTokenOfItsGrant(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		first, refresh := f.userTokens()
		r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "app", pwSecret)
		if r.Status != 200 {
			t.Fatalf("refresh: %d %v", r.Status, r.Body)
		}
		second, current := r.Body["access_token"].(string), r.Body["refresh_token"].(string)
		// Public-client style: client_id and client_secret in the body work too.
		if r := f.revoke(url.Values{"token": {current}, "token_type_hint": {"refresh_token"}, "client_id": {"app"}, "client_secret": {pwSecret}}, ""); r.Status != 200 {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		ctx := context.Background()
		for _, tok := range []string{first, second} {
			if at, err := f.st.GetAccessToken(ctx, f.jtiOf(tok)); err != nil || !at.Revoked {
				t.Errorf("access token of the grant not revoked: %+v %v", at, err)
			}
		}
		if rt, _ := f.st.GetRefreshToken(ctx, authserver.Digest(current)); !rt.Revoked {
			t.Fatal("refresh token not revoked")
		}
	})
}

func TestRevokeUnknownOrForeignTokenAnswers200AndChangesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		f.userTokens()
		before := f.dump()
		for _, tok := range []string{"not-a-token", "a.b.c", "eyJhbGciOiJub25lIn0.e30."} {
			for _, hint := range []string{"", "access_token", "refresh_token", "something_else"} {
				form := url.Values{"token": {tok}}
				if hint != "" {
					form.Set("token_type_hint", hint)
				}
				if r := f.revoke(form, basic("app", pwSecret)); r.Status != 200 {
					t.Errorf("%q hint %q: %d %s", tok, hint, r.Status, r.Raw)
				}
			}
		}
		if after := f.dump(); after != before {
			t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// A client may revoke only its own tokens; every refused revocation changes nothing.
func TestRevokeRefusesAnotherClientsTokenAndBadCredentials(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		access, refresh := f.userTokens() // issued to app
		svcToken := f.ccToken("svc", ccSecret)
		before := f.dump()
		cases := []struct {
			name   string
			form   url.Values
			auth   string
			status int
			code   string
		}{
			{"another client's access token", url.Values{"token": {access}}, basic("other", pwSecret), 400, "unauthorized_client"},
			{"another client's refresh token", url.Values{"token": {refresh}}, basic("other", pwSecret), 400, "unauthorized_client"},
			{"a client credentials token of another client", url.Values{"token": {svcToken}}, basic("app", pwSecret), 400, "unauthorized_client"},
			{"wrong secret", url.Values{"token": {access}}, basic("app", "wrong-secret-0123456789"), 401, "invalid_client"},
			{"unknown client", url.Values{"token": {access}}, basic("ghost", pwSecret), 401, "invalid_client"},
			{"no client authentication", url.Values{"token": {access}}, "", 401, "invalid_client"},
			{"the token as its own credential", url.Values{"token": {access}}, bearer(access), 401, "invalid_client"},
			{"no token", url.Values{}, basic("app", pwSecret), 400, "invalid_request"},
		}
		for _, c := range cases {
			r := f.revoke(c.form, c.auth)
			if r.Status != c.status || r.Body["error"] != c.code {
				t.Errorf("%s: got %d %s, want %d %s", c.name, r.Status, r.Raw, c.status, c.code)
			}
		}
		if after := f.dump(); after != before {
			t.Fatalf("refused revocations changed the store:\nbefore %s\nafter  %s", before, after)
		}
		req, _ := http.NewRequest(http.MethodGet, f.ts.URL+authserver.PathRevoke, nil)
		if r := f.do(req); r.Status != 405 {
			t.Errorf("GET: %d", r.Status)
		}
	})
}
