package authserver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
	"github.com/caddyoauth/caddy-oauth/validator"
)

const (
	rpSecret  = "rp-secret-0123456789abcdef"
	rpCB      = "https://rp.example/cb"
	rpSignOut = "https://rp.example/signed-out"
)

// oidcSite is a browser site with an OpenID Connect relying party client, "rp".
func oidcSite(t *testing.T, f *fixture, mutate func(*authserver.Config)) *site {
	t.Helper()
	now := time.Now().UTC()
	if err := f.st.CreateClient(context.Background(), &store.Client{
		ID: "rp", Name: "Relying Party", SecretHash: authserver.HashSecret(rpSecret), RedirectURIs: []string{rpCB},
		PostLogoutRedirectURIs: []string{rpSignOut}, Grants: []string{"authorization_code", "refresh_token"},
		CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	return browserSite(t, f, mutate)
}

// rpQuery is an OpenID Connect authorization request of the relying party.
func rpQuery(scope, nonce string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {"rp"}, "redirect_uri": {rpCB}, "scope": {scope},
		"state": {"st-rp"}, "nonce": {nonce}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

// signIn runs the code flow for q and returns the token response.
func (b *browser) signIn(q url.Values) tokenReply {
	b.t.Helper()
	code := b.codeFor(q)
	r := b.site.exchange("rp", rpSecret, url.Values{"code": {code}, "redirect_uri": {rpCB}, "code_verifier": {verifier}})
	if r.Status != http.StatusOK {
		b.t.Fatalf("token: %d %v", r.Status, r.Body)
	}
	return r
}

// A relying party built on coreos/go-oidc signs a user in: it discovers the server, the
// ID token verifies with its own checks (RS256 over the JWKS, iss, aud, exp, nonce,
// at_hash), carries auth_time and azp, and userinfo names the same subject with the
// claims the scopes release. A refresh gives a new ID token for the same user. A guard
// never takes the ID token for an access token, and the access token carries the email
// claim for the API behind the guard.
func TestOpenIDConnectSignInWithGoOIDC(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := oidcSite(t, f, nil)
		ctx := context.Background()
		provider, err := oidc.NewProvider(ctx, s.url)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		if provider.Endpoint().TokenURL != s.url+authserver.PathToken || provider.UserInfoEndpoint() != s.url+authserver.PathUserinfo {
			t.Fatalf("endpoints %+v, userinfo %s", provider.Endpoint(), provider.UserInfoEndpoint())
		}
		b := s.browser(t)
		before := time.Now().Add(-time.Second).Unix()
		r := b.signIn(rpQuery("openid profile email orders:read", "n-0S6_WzA2Mj"))
		raw, _ := r.Body["id_token"].(string)
		access, _ := r.Body["access_token"].(string)
		if raw == "" {
			t.Fatalf("no id_token in %v", r.Body)
		}
		verifier := provider.Verifier(&oidc.Config{ClientID: "rp"})
		idt, err := verifier.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("go-oidc refuses the ID token: %v", err)
		}
		if idt.Subject != f.userID || idt.Nonce != "n-0S6_WzA2Mj" || idt.Issuer != s.url {
			t.Fatalf("ID token sub %q nonce %q iss %q", idt.Subject, idt.Nonce, idt.Issuer)
		}
		if err := idt.VerifyAccessToken(access); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		if err := idt.VerifyAccessToken(tamper(access)); err == nil {
			t.Fatal("at_hash matches another access token")
		}
		var extra struct {
			AuthTime int64  `json:"auth_time"`
			Azp      string `json:"azp"`
			Email    string `json:"email"`
		}
		if err := idt.Claims(&extra); err != nil {
			t.Fatal(err)
		}
		if extra.AuthTime < before || extra.AuthTime > time.Now().Unix() || extra.Azp != "rp" || extra.Email != userEmail {
			t.Fatalf("ID token claims %+v", extra)
		}
		// The ID token is signed with the RS256 ID-token key, typed JWT.
		hdr, _ := f.claims(raw)
		if hdr["alg"] != "RS256" || hdr["typ"] != "JWT" {
			t.Fatalf("ID token header %v", hdr)
		}

		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access, TokenType: "Bearer"}))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if info.Subject != idt.Subject || info.Email != userEmail {
			t.Fatalf("userinfo sub %q email %q", info.Subject, info.Email)
		}

		// A refresh of the sign-in, and a refresh of that: each a new ID token, same
		// user, no nonce, the auth_time of the original sign-in (OpenID Connect Core
		// §12.2).
		refresh := r.Body["refresh_token"].(string)
		for i := 1; i <= 2; i++ {
			rt := f.postTo(s.url, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "rp", rpSecret)
			refresh, _ = rt.Body["refresh_token"].(string)
			raw2, _ := rt.Body["id_token"].(string)
			idt2, err := verifier.Verify(ctx, raw2)
			if err != nil || idt2.Subject != idt.Subject || idt2.Nonce != "" {
				t.Fatalf("refreshed ID token %d: %v %+v", i, err, idt2)
			}
			var again struct {
				AuthTime int64 `json:"auth_time"`
			}
			if err := idt2.Claims(&again); err != nil || again.AuthTime != extra.AuthTime {
				t.Fatalf("refreshed ID token %d: auth_time %d, want the sign-in's %d (%v)", i, again.AuthTime, extra.AuthTime, err)
			}
			if err := idt2.VerifyAccessToken(rt.Body["access_token"].(string)); err != nil {
				t.Fatalf("refreshed at_hash: %v", err)
			}
		}

		// A guard on the server's JWKS: the access token passes with its email claim, the
		// ID token is refused, signature good or not (RFC 8725 §3.11).
		ks, err := validator.NewKeySourceContext(ctx, s.url+authserver.PathJWKS, validator.KeySourceOptions{RefreshInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer ks.Close()
		guard, err := validator.NewJWTVerifier(validator.JWTOptions{Keys: ks, Issuer: s.url})
		if err != nil {
			t.Fatal(err)
		}
		id, err := guard.Verify(ctx, access)
		if err != nil {
			t.Fatalf("guard refuses the access token: %v", err)
		}
		if email, _ := id.ClaimsFor(access).Get("email"); email != userEmail {
			t.Fatalf("access token email claim %q", email)
		}
		if _, err := guard.Verify(ctx, raw); err == nil {
			t.Fatal("the guard accepted an ID token as an access token")
		}
		// Nor does the server: introspection says inactive, userinfo refuses it.
		if got := userinfo(t, s.url, raw); got.status != http.StatusUnauthorized {
			t.Fatalf("userinfo with an ID token: %d", got.status)
		}
		if r := send(t, s.url, authserver.PathIntrospect, url.Values{"token": {raw}}, basic("rs", rsSecret)); r.Status != http.StatusOK || r.Body["active"] != false {
			t.Fatalf("introspection of an ID token: %d %v", r.Status, r.Body)
		}
		if r := send(t, s.url, authserver.PathIntrospect, url.Values{"token": {access}}, basic("rs", rsSecret)); r.Body["active"] != true {
			t.Fatalf("introspection of the access token: %v", r.Body)
		}
	})
}

// userinfoAnswer is a userinfo response.
type userinfoAnswer struct {
	status    int
	challenge string
	body      map[string]any
}

// userinfo calls GET /oauth/userinfo with token as Bearer ("" for none).
func userinfo(t *testing.T, base, token string) userinfoAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+authserver.PathUserinfo, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return doUserinfo(t, req)
}

func doUserinfo(t *testing.T, req *http.Request) userinfoAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := userinfoAnswer{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate")}
	_ = json.NewDecoder(resp.Body).Decode(&out.body)
	return out
}

// postTo posts a token request to base's token endpoint with Basic client credentials.
func (f *fixture) postTo(base string, form url.Values, id, secret string) tokenReply {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+authserver.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	return f.do(req)
}

// Userinfo refuses as RFC 6750 says: no token (401, a bare challenge), a bad token (401
// invalid_token), a token without the openid scope or without a user (403
// insufficient_scope, scope="openid"), two tokens (400); and takes the token from a POST
// form too. The scopes decide what it releases: openid alone gives sub and nothing else.
func TestUserinfoRefusalsAndScopes(t *testing.T) {
	f := sqliteFixture(t)
	s := oidcSite(t, f, nil)
	b := s.browser(t)
	onlyOpenID := b.signIn(rpQuery("openid", "n1")).Body["access_token"].(string)
	noOpenID := b.signIn(rpQuery("email orders:read", "n2")).Body["access_token"].(string)
	clientToken := f.postTo(s.url, url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}, "svc", ccSecret).Body["access_token"].(string)

	for name, c := range map[string]struct {
		token     string
		status    int
		challenge string
	}{
		"no token":      {"", 401, `Bearer realm="userinfo"`},
		"bad token":     {tamper(onlyOpenID), 401, `Bearer realm="userinfo", error="invalid_token"`},
		"no openid":     {noOpenID, 403, `Bearer realm="userinfo", error="insufficient_scope", scope="openid"`},
		"client token":  {clientToken, 403, `Bearer realm="userinfo", error="insufficient_scope", scope="openid"`},
		"openid only":   {onlyOpenID, 200, ""},
		"garbage token": {"a.b.c", 401, `Bearer realm="userinfo", error="invalid_token"`},
	} {
		got := userinfo(t, s.url, c.token)
		if got.status != c.status || got.challenge != c.challenge {
			t.Errorf("%s: %d %q, want %d %q (%v)", name, got.status, got.challenge, c.status, c.challenge, got.body)
		}
	}
	if got := userinfo(t, s.url, onlyOpenID); got.body["sub"] != f.userID || got.body["email"] != nil || len(got.body) != 1 {
		t.Fatalf("openid alone released %v", got.body)
	}
	// A browser application on another origin may call it (the token is a header, not a
	// cookie): the preflight is answered and the answer readable.
	pre, _ := http.NewRequest(http.MethodOptions, s.url+authserver.PathUserinfo, nil)
	pre.Header.Set("Origin", "https://spa.example")
	pre.Header.Set("Access-Control-Request-Method", "GET")
	if resp, err := http.DefaultClient.Do(pre); err != nil || resp.StatusCode != http.StatusNoContent ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %v %v", resp, err)
	}
	post := func(form url.Values, bearer string) userinfoAnswer {
		req, _ := http.NewRequest(http.MethodPost, s.url+authserver.PathUserinfo, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		return doUserinfo(t, req)
	}
	if got := post(url.Values{"access_token": {onlyOpenID}}, ""); got.status != 200 || got.body["sub"] != f.userID {
		t.Fatalf("POST form: %d %v", got.status, got.body)
	}
	if got := post(url.Values{"access_token": {onlyOpenID}}, onlyOpenID); got.status != 400 {
		t.Fatalf("token twice: %d", got.status)
	}
	// Revoked: refused at once.
	rv, _ := http.PostForm(s.url+authserver.PathRevoke, url.Values{"token": {onlyOpenID}, "client_id": {"rp"}, "client_secret": {rpSecret}})
	rv.Body.Close()
	if got := userinfo(t, s.url, onlyOpenID); got.status != 401 {
		t.Fatalf("revoked token: %d", got.status)
	}
}

// sqliteFixture is a fixture on SQLite alone, for rules the store does not decide.
func sqliteFixture(t *testing.T) *fixture {
	t.Helper()
	path := testdb.SQLitePath(t)
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, nil)
	f.dump = func() string { return testdb.Fingerprint(t, "sqlite", path) }
	return f
}

// prompt, max_age, nonce and the request parameters this server does not support
// (OpenID Connect Core §3.1.2.1, §3.1.2.6): each answered as the spec says, and none
// loops between the login page and the authorization endpoint.
func TestAuthorizationRequestPromptAndMaxAge(t *testing.T) {
	f := sqliteFixture(t)
	s := oidcSite(t, f, nil)
	b := s.browser(t)
	q := rpQuery("openid email", "n")
	errorOf := func(p page) string {
		t.Helper()
		loc := p.location(t)
		if !strings.HasPrefix(loc.String(), rpCB) {
			t.Fatalf("redirected to %s", loc)
		}
		return loc.Query().Get("error")
	}
	with := func(extra ...string) url.Values {
		out := url.Values{}
		for k, v := range q {
			out[k] = v
		}
		for i := 0; i < len(extra); i += 2 {
			out.Set(extra[i], extra[i+1])
		}
		return out
	}
	// Not signed in: prompt=none is login_required, never the login page.
	if e := errorOf(b.authorize(with("prompt", "none"))); e != "login_required" {
		t.Fatalf("prompt=none without session: %q", e)
	}
	// login_hint fills the login form's username.
	p := b.authorize(with("login_hint", "someone@example.com"))
	login := b.get(p.location(t).RequestURI())
	if !strings.Contains(login.body, `value="someone@example.com"`) {
		t.Fatalf("login_hint not on the form: %.400s", login.body)
	}
	b.login("")
	// Signed in, never approved: prompt=none is consent_required.
	if e := errorOf(b.authorize(with("prompt", "none"))); e != "consent_required" {
		t.Fatalf("prompt=none without consent: %q", e)
	}
	b.codeFor(q) // approves
	// Approved: prompt=none gives a code without any page.
	if loc := b.authorize(with("prompt", "none")).location(t); loc.Query().Get("code") == "" {
		t.Fatalf("prompt=none after consent: %s", loc)
	}
	// prompt=consent shows the consent page although approved.
	if p := b.authorize(with("prompt", "consent")); p.status != http.StatusOK || !strings.Contains(p.body, "decision") {
		t.Fatalf("prompt=consent: %d", p.status)
	}
	// prompt=login and max_age=0 send a signed-in browser to the login form, and the way
	// back no longer asks for it.
	for _, extra := range [][]string{{"prompt", "login"}, {"max_age", "0"}, {"prompt", "select_account"}} {
		p := b.authorize(with(extra...))
		loc := p.location(t)
		if loc.Path != authserver.PathLogin || loc.Query().Get("prompt") != "login" {
			t.Fatalf("%v: sent to %s", extra, loc)
		}
		form := b.get(loc.RequestURI())
		if form.status != http.StatusOK || !strings.Contains(form.body, `name="password"`) {
			t.Fatalf("%v: the signed-in browser got no login form: %d", extra, form.status)
		}
		back := loc.Query().Get("return_to")
		if strings.Contains(back, "prompt=login") || strings.Contains(back, "max_age") || strings.Contains(back, "select_account") {
			t.Fatalf("%v: the way back asks again: %s", extra, back)
		}
		old := b.sessionCookie()
		done := b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {userEmail}, "password": {userPass}, "return_to": {back}}, nil)
		if b.sessionCookie() == old {
			t.Fatalf("%v: no new session", extra)
		}
		if code := b.get(done.location(t).RequestURI()).location(t).Query().Get("code"); code == "" {
			t.Fatalf("%v: no code after signing in again", extra)
		}
	}
	// A long max_age is satisfied by the current session.
	if loc := b.authorize(with("max_age", "3600")).location(t); loc.Query().Get("code") == "" {
		t.Fatalf("max_age=3600: %s", loc)
	}
	for extra, want := range map[[2]string]string{
		{"prompt", "none login"}:            "invalid_request",
		{"prompt", "bogus"}:                 "invalid_request",
		{"max_age", "-1"}:                   "invalid_request",
		{"max_age", "soon"}:                 "invalid_request",
		{"request", "eyJhbGciOi.x"}:         "request_not_supported",
		{"registration", "{}"}:              "registration_not_supported",
		{"nonce", strings.Repeat("n", 513)}: "invalid_request",
	} {
		if e := errorOf(b.authorize(with(extra[0], extra[1]))); e != want {
			t.Errorf("%s=%.20s: %q, want %q", extra[0], extra[1], e, want)
		}
	}
	// request_uri names a pushed request (RFC 9126); one this server never issued is
	// refused on a page, not sent to the redirect URI.
	if p := b.authorize(with("request_uri", "urn:x:y")); p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
		t.Errorf("unknown request_uri: %d, Location %q", p.status, p.header.Get("Location"))
	}
}

// RP-initiated logout: with an id_token_hint of the signed-in user and a registered
// post-logout URI, the session ends at once and the browser returns with its state;
// without a hint, the person confirms first (a link alone signs no one out), and the
// confirmation needs the session's CSRF token. An unregistered URI, a forged hint or a
// hint for another client is an error page, never a redirect.
func TestRPInitiatedLogout(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := oidcSite(t, f, nil)
		b := s.browser(t)
		idToken := b.signIn(rpQuery("openid", "n")).Body["id_token"].(string)
		logout := func(q url.Values) page { return b.get(authserver.PathLogout + "?" + q.Encode()) }

		for name, q := range map[string]url.Values{
			"unregistered URI":   {"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://evil.example/"}},
			"prefix of a URI":    {"client_id": {"rp"}, "post_logout_redirect_uri": {rpSignOut + "/x"}},
			"URI without client": {"post_logout_redirect_uri": {rpSignOut}},
			"forged hint":        {"id_token_hint": {tamper(idToken)}, "post_logout_redirect_uri": {rpSignOut}},
			"hint of another rp": {"id_token_hint": {idToken}, "client_id": {"web"}},
			"repeated parameter": {"client_id": {"rp", "rp"}},
		} {
			if p := logout(q); p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
				t.Errorf("%s: %d, Location %q", name, p.status, p.header.Get("Location"))
			}
		}
		if b.sessionCookie() == "" || b.authorize(rpQuery("openid", "n")).status == http.StatusFound &&
			b.authorize(rpQuery("openid", "n")).location(t).Path == authserver.PathLogin {
			t.Fatal("a refused logout ended the session")
		}

		// No hint: a confirmation page, the session intact until it is answered.
		p := logout(url.Values{"client_id": {"rp"}, "post_logout_redirect_uri": {rpSignOut}, "state": {"bye-1"}})
		if p.status != http.StatusOK || !strings.Contains(p.body, `id="sign-out"`) {
			t.Fatalf("confirmation page: %d %.300s", p.status, p.body)
		}
		if loc := b.authorize(rpQuery("openid", "n")).location(t); loc.Query().Get("code") == "" {
			t.Fatal("the confirmation page signed the user out")
		}
		form := url.Values{"client_id": {"rp"}, "post_logout_redirect_uri": {rpSignOut}, "state": {"bye-1"}}
		if p := b.post(authserver.PathLogout, form, nil); p.status != http.StatusForbidden {
			t.Fatalf("confirmation without CSRF: %d", p.status)
		}
		form.Set("_csrf", p.csrf(t))
		done := b.post(authserver.PathLogout, form, nil)
		if loc := done.location(t); loc.String() != rpSignOut+"?state=bye-1" {
			t.Fatalf("after confirming: %s", loc)
		}
		if loc := b.authorize(rpQuery("openid", "n")).location(t); loc.Path != authserver.PathLogin {
			t.Fatalf("still signed in after logout: %s", loc)
		}

		// With the hint of the signed-in user: signed out at once.
		idToken = b.signIn(rpQuery("openid", "n")).Body["id_token"].(string)
		p = logout(url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {rpSignOut}, "state": {"bye-2"}})
		if loc := p.location(t); loc.String() != rpSignOut+"?state=bye-2" {
			t.Fatalf("logout with hint: %d %s", p.status, loc)
		}
		if loc := b.authorize(rpQuery("openid", "n")).location(t); loc.Path != authserver.PathLogin {
			t.Fatalf("still signed in after logout with hint: %s", loc)
		}
		// Signed out already: straight back.
		if loc := logout(url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {rpSignOut}}).location(t); loc.String() != rpSignOut {
			t.Fatalf("logout without session: %s", loc)
		}
	})
}

// users sql describes users for the profile and email scopes from named columns: name and
// email as they are, email_verified_at as email_verified, a user missing from the table as
// nobody (sub only).
func TestSQLUsersClaimsFromNamedColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	app, err := sql.Open("sqlite", path) // the application's side, which writes
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	for _, q := range []string{
		`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, password TEXT, email_verified_at TEXT, updated_at TEXT)`,
		`INSERT INTO users VALUES (7, 'Ada Lovelace', 'ada@example.com', 'x', '2024-01-02 03:04:05', '2024-05-06 07:08:09')`,
		`INSERT INTO users VALUES (8, 'Bob', 'bob@example.com', 'x', NULL, NULL)`,
	} {
		if _, err := app.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db, err := authserver.OpenUserDB("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	p, err := authserver.NewSQLUsers(ctx, db, "")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := p.UserClaims(ctx, "7"); c != nil || err != nil {
		t.Fatalf("without a claims query: %+v %v", c, err)
	}
	if err := p.WithClaims(ctx, "SELECT nope FROM users WHERE id = $1"); err == nil {
		t.Fatal("a claims query naming a missing column was accepted")
	}
	if err := p.WithClaims(ctx, authserver.DefaultClaimsQuery+" AND 1 = 1"); err != nil {
		t.Fatal(err)
	}
	ada, err := p.UserClaims(ctx, "7")
	if err != nil || ada.Name != "Ada Lovelace" || ada.Email != "ada@example.com" || ada.EmailVerified == nil || !*ada.EmailVerified {
		t.Fatalf("ada: %+v %v", ada, err)
	}
	bob, err := p.UserClaims(ctx, "8")
	if err != nil || bob.EmailVerified == nil || *bob.EmailVerified {
		t.Fatalf("bob: %+v %v", bob, err)
	}
	if _, err := p.UserClaims(ctx, "9"); err != authserver.ErrUnknownUser {
		t.Fatalf("missing user: %v", err)
	}
	if err := p.WithClaims(ctx, "SELECT name, updated_at, email_verified_at IS NOT NULL AS email_verified FROM users WHERE id = $1"); err != nil {
		t.Fatal(err)
	}
	ada, err = p.UserClaims(ctx, "7")
	want := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC).Unix()
	if err != nil || ada.UpdatedAt != want || ada.EmailVerified == nil || !*ada.EmailVerified || ada.Email != "" {
		t.Fatalf("ada by another query: %+v %v", ada, err)
	}
}

// A device signed in with the openid scope gets an ID token too, as the code flow does:
// go-oidc verifies it for the device's client, with the approving session's auth_time and
// no nonce, and userinfo answers for the same user.
func TestDeviceSignInGetsAnIDToken(t *testing.T) {
	f := sqliteFixture(t)
	s, clk := deviceSite(t, f, nil)
	ctx := oidc.ClientContext(context.Background(), http.DefaultClient)
	dc, uc := s.newDeviceCode("openid email")
	s.approveDevice(t, uc)
	clk.advance(2 * time.Second)
	r := s.poll("tv", "", dc)
	raw, _ := r.Body["id_token"].(string)
	if r.Status != http.StatusOK || raw == "" {
		t.Fatalf("device token response: %d %v", r.Status, r.Body)
	}
	// The clock is the test's: verify as of it.
	provider, err := oidc.NewProvider(ctx, s.url)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: "tv", Now: clk.now}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc refuses the device's ID token: %v", err)
	}
	var c struct {
		AuthTime int64  `json:"auth_time"`
		Email    string `json:"email"`
	}
	if err := idt.Claims(&c); err != nil || idt.Subject != f.userID || idt.Nonce != "" || c.AuthTime == 0 || c.Email != userEmail {
		t.Fatalf("device ID token %+v %+v %v", idt, c, err)
	}
	if err := idt.VerifyAccessToken(r.Body["access_token"].(string)); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	// Without openid: no ID token.
	dc, uc = s.newDeviceCode("orders:read")
	s.approveDevice(t, uc)
	clk.advance(2 * time.Second)
	if r := s.poll("tv", "", dc); r.Status != http.StatusOK || r.Body["id_token"] != nil {
		t.Fatalf("device without openid: %d %v", r.Status, r.Body)
	}
}

// offline_access (OpenID Connect Core §11) is a defined scope, so a library that asks for
// it is not refused; the refresh token still follows the client's refresh_token grant.
func TestOfflineAccessIsAcceptedAndRefreshFollowsTheGrant(t *testing.T) {
	f := sqliteFixture(t)
	s := oidcSite(t, f, nil)
	r := s.browser(t).signIn(rpQuery("openid offline_access", "n-off"))
	if r.Body["refresh_token"] == nil || r.Body["id_token"] == nil || r.Body["scope"] != "openid offline_access" {
		t.Fatalf("token response %v", r.Body)
	}
}

// An ID token lives as long as the access token, one hour at most, and names the user
// provider; a claims request parameter, which this server does not support, is ignored
// as OpenID Connect Core §5.5 allows rather than refused.
func TestIDTokenLifetimeProviderAndIgnoredClaimsParameter(t *testing.T) {
	for _, c := range []struct {
		accessTTL, want time.Duration
	}{{10 * time.Minute, 10 * time.Minute}, {3 * time.Hour, time.Hour}} {
		f := sqliteFixture(t)
		s := oidcSite(t, f, func(cfg *authserver.Config) { cfg.AccessTokenTTL = c.accessTTL })
		q := rpQuery("openid", "n-ttl")
		q.Set("claims", `{"id_token":{"acr":{"essential":true}}}`)
		r := s.browser(t).signIn(q)
		_, cl := f.claims(r.Body["id_token"].(string))
		exp, iat := cl["exp"].(float64), cl["iat"].(float64)
		if time.Duration(exp-iat)*time.Second != c.want || cl["provider"] != authserver.DefaultProvider || cl["acr"] != nil {
			t.Fatalf("access TTL %v: ID token exp-iat %vs, claims %v", c.accessTTL, exp-iat, cl)
		}
	}
}
