package authserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
)

// Each RFC 9068 claim, by value.
func TestAccessTokenClaimsFollowRFC9068(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		before := time.Now().Unix()
		r := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {"orders:read orders:write"}}, "app", pwSecret)
		if r.Status != 200 {
			t.Fatalf("%d %v", r.Status, r.Body)
		}
		after := time.Now().Unix()
		hdr, cl := f.claims(r.Body["access_token"].(string))
		if hdr["typ"] != "at+jwt" {
			t.Errorf("typ = %v", hdr["typ"])
		}
		if hdr["kid"] != f.srvKid(t) {
			t.Errorf("kid = %v, want the current signing key", hdr["kid"])
		}
		if cl["iss"] != testIssuer {
			t.Errorf("iss = %v", cl["iss"])
		}
		if cl["sub"] != f.userID {
			t.Errorf("sub = %v, want the user", cl["sub"])
		}
		if aud, _ := json.Marshal(cl["aud"]); string(aud) != `["app"]` {
			t.Errorf("aud = %s, want the client id", aud)
		}
		if cl["client_id"] != "app" {
			t.Errorf("client_id = %v", cl["client_id"])
		}
		if cl["scope"] != "orders:read orders:write" {
			t.Errorf("scope = %v", cl["scope"])
		}
		iat, exp := int64(cl["iat"].(float64)), int64(cl["exp"].(float64))
		if iat < before-1 || iat > after {
			t.Errorf("iat %d not within [%d, %d]", iat, before, after)
		}
		if exp-iat != 3600 || int64(r.Body["expires_in"].(float64)) != 3600 {
			t.Errorf("exp-iat = %d, expires_in = %v, want 3600", exp-iat, r.Body["expires_in"])
		}
		jti, _ := cl["jti"].(string)
		rec, err := f.st.GetAccessToken(context.Background(), jti)
		if err != nil || rec.UserID != f.userID || rec.ClientID != "app" || rec.ExpiresAt.Unix() != exp {
			t.Fatalf("jti %q does not name the stored record: %+v %v", jti, rec, err)
		}
		// jti is unique per token.
		r2 := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "app", pwSecret)
		if _, cl2 := f.claims(r2.Body["access_token"].(string)); cl2["jti"] == jti {
			t.Error("two tokens share a jti")
		}
	})
}

func (f *fixture) srvKid(t *testing.T) string {
	t.Helper()
	list, err := f.st.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list {
		if k.RetiredAt == nil && k.KeyPurpose() == store.KeyPurposeAccess {
			return k.ID
		}
	}
	t.Fatal("no current key")
	return ""
}

// A configured audience replaces the client id in aud.
func TestConfiguredAudienceIsTheAud(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		srv, err := authserver.New(authserver.Config{Issuer: testIssuer, Audience: []string{"https://api.test", "billing"}, Store: f.st, Keys: f.ring, Scopes: f.catalog(t)})
		if err != nil {
			t.Fatal(err)
		}
		f.serve(t, srv)
		r := f.post(url.Values{"grant_type": {"client_credentials"}}, "svc", ccSecret)
		_, cl := f.claims(r.Body["access_token"].(string))
		if aud, _ := json.Marshal(cl["aud"]); string(aud) != `["https://api.test","billing"]` {
			t.Errorf("aud = %s", aud)
		}
		if cl["sub"] != "svc" || cl["client_id"] != "svc" {
			t.Errorf("client token sub/client_id = %v/%v", cl["sub"], cl["client_id"])
		}
	})
}

// RFC 6749 §5.2: a client that tried the Authorization header gets a challenge with its
// 401, whatever scheme it tried; a client that authenticated in the body gets none.
func TestInvalidClientChallengesOnlyHeaderAuthentication(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		before := f.dump()
		for name, hdr := range map[string]string{
			"bearer scheme":    "Bearer abc",
			"malformed basic":  "Basic !!!not-base64",
			"basic no colon":   "Basic c3Zj", // "svc"
			"digest scheme":    `Digest username="svc"`,
			"wrong basic pair": "Basic c3ZjOndyb25n", // svc:wrong
		} {
			req, _ := http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathToken, strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", hdr)
			r := f.do(req)
			if r.Status != 401 || r.Body["error"] != "invalid_client" || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("%s: %d %v WWW-Authenticate %q", name, r.Status, r.Body, r.Header.Get("WWW-Authenticate"))
			}
		}
		r := f.post(url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {"wrong"}}, "", "")
		if r.Status != 401 || r.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("client_secret_post: %d WWW-Authenticate %q", r.Status, r.Header.Get("WWW-Authenticate"))
		}
		if f.dump() != before {
			t.Fatal("refused requests changed the store")
		}
	})
}

func TestRepeatedParametersAreInvalidRequests(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		before := f.dump()
		for _, body := range []string{
			"grant_type=client_credentials&scope=orders:read&scope=orders:write",
			"grant_type=client_credentials&client_id=svc&client_id=svc&client_secret=" + ccSecret,
			"grant_type=password&username=a&username=b&password=x",
		} {
			req, _ := http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathToken, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if !strings.Contains(body, "client_id=") {
				req.SetBasicAuth("svc", ccSecret)
			}
			if r := f.do(req); r.Status != 400 || r.Body["error"] != "invalid_request" {
				t.Errorf("%s: %d %v", body, r.Status, r.Body)
			}
		}
		if f.dump() != before {
			t.Fatal("refused requests changed the store")
		}
	})
}

// `*` is for the password and client credentials grants only.
func TestWildcardScopeOnlyForPasswordAndClientCredentials(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, c := range []struct {
			form       url.Values
			id, secret string
		}{
			{url.Values{"grant_type": {"client_credentials"}, "scope": {"*"}}, "svc", ccSecret},
			{url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {"*"}}, "app", pwSecret},
		} {
			if r := f.post(c.form, c.id, c.secret); r.Status != 200 || r.Body["scope"] != "*" {
				t.Errorf("%s with *: %d %v", c.form.Get("grant_type"), r.Status, r.Body)
			}
		}
		// A refresh cannot turn specific scopes into `*`.
		first := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {"orders:read"}}, "app", pwSecret)
		r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Body["refresh_token"].(string)}, "scope": {"*"}}, "app", pwSecret)
		if r.Status != 400 || r.Body["error"] != "invalid_scope" {
			t.Errorf("refresh widening to *: %d %v", r.Status, r.Body)
		}
		// Personal access tokens never carry `*`.
		if _, err := f.srv.IssuePersonalToken(context.Background(), f.userID, "cli", []string{"*"}, ""); err == nil {
			t.Error("a personal access token was issued with *")
		}
	})
}

// The default scope is granted when none is requested, by every grant.
func TestDefaultScopeWhenNoneRequested(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, c := range []struct {
			form       url.Values
			id, secret string
		}{
			{url.Values{"grant_type": {"client_credentials"}}, "svc", ccSecret},
			{url.Values{"grant_type": {"client_credentials"}, "scope": {""}}, "svc", ccSecret},
			{url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "app", pwSecret},
		} {
			r := f.post(c.form, c.id, c.secret)
			if r.Status != 200 || r.Body["scope"] != "orders:read" {
				t.Errorf("%v: %d %v", c.form, r.Status, r.Body)
				continue
			}
			if _, cl := f.claims(r.Body["access_token"].(string)); cl["scope"] != "orders:read" {
				t.Errorf("%v: scope claim %v", c.form, cl["scope"])
			}
		}
	})
}

// Many requests present one refresh token at once: exactly one gets new tokens, and
// only its tokens are recorded.
func TestConcurrentRefreshRotationHasOneWinner(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		first := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "app", pwSecret)
		rt := first.Body["refresh_token"].(string)
		const n = 8
		var wg sync.WaitGroup
		replies := make([]tokenReply, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				replies[i] = f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "app", pwSecret)
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, r := range replies {
			switch {
			case r.Status == 200:
				wins++
			case r.Status == 400 && r.Body["error"] == "invalid_grant":
			default:
				t.Errorf("unexpected reply %d %v", r.Status, r.Body)
			}
		}
		if wins != 1 {
			t.Fatalf("%d requests rotated the same refresh token, want exactly 1", wins)
		}
		toks, err := f.st.ListAccessTokens(context.Background(), f.userID)
		if err != nil || len(toks) != 2 {
			t.Fatalf("user has %d access tokens recorded, want the first and the winner's (%v)", len(toks), err)
		}
	})
}

// A public client (no secret) authenticates with its client_id alone, which is why the
// metadata lists "none"; it may refresh but not use the confidential grants.
func TestPublicClientAuthenticatesByIDForRefreshOnly(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		now := time.Now().UTC()
		if err := f.st.CreateClient(ctx, &store.Client{ID: "spa", Name: "SPA", Grants: []string{"authorization_code", "refresh_token", "client_credentials"}, RedirectURIs: []string{"https://spa.test/cb"}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		value := "public-refresh-token-value-0123456789"
		at := &store.AccessToken{ID: "seed-at", ClientID: "spa", UserID: f.userID, Scopes: []string{"orders:read"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		rt := &store.RefreshToken{ID: authserver.Digest(value), AccessTokenID: at.ID, FamilyID: "fam", ClientID: "spa", UserID: f.userID, Scopes: at.Scopes, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := f.st.CreateAccessToken(ctx, at, rt); err != nil {
			t.Fatal(err)
		}
		r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {value}, "client_id": {"spa"}}, "", "")
		if r.Status != 200 {
			t.Fatalf("public refresh: %d %v", r.Status, r.Body)
		}
		if r := f.post(url.Values{"grant_type": {"client_credentials"}, "client_id": {"spa"}}, "", ""); r.Status != 401 || r.Body["error"] != "invalid_client" {
			t.Fatalf("public client credentials: %d %v", r.Status, r.Body)
		}
		if r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Body["refresh_token"].(string)}, "client_id": {"spa"}, "client_secret": {"guess-0123456789abcdef"}}, "", ""); r.Status != 401 {
			t.Fatalf("public client with a made-up secret: %d %v", r.Status, r.Body)
		}
	})
}

// The metadata lists exactly what the token endpoint does.
func TestMetadataListsWhatIsSupported(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		resp, err := http.Get(f.ts.URL + authserver.PathMetadata)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var md map[string]json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"issuer":                                           `"` + testIssuer + `"`,
			"token_endpoint":                                   `"` + testIssuer + `/oauth/token"`,
			"jwks_uri":                                         `"` + testIssuer + `/.well-known/jwks.json"`,
			"authorization_endpoint":                           `"` + testIssuer + `/oauth/authorize"`,
			"grant_types_supported":                            `["authorization_code","client_credentials","password","refresh_token","urn:ietf:params:oauth:grant-type:device_code"]`,
			"code_challenge_methods_supported":                 `["S256"]`,
			"token_endpoint_auth_methods_supported":            `["client_secret_basic","client_secret_post","private_key_jwt","none","self_signed_tls_client_auth"]`,
			"tls_client_certificate_bound_access_tokens":       `true`,
			"token_endpoint_auth_signing_alg_values_supported": `["RS256","PS256","ES256","ES384","EdDSA"]`,
			"scopes_supported":                                 `["email","offline_access","openid","orders:read","orders:write","profile","*"]`,
			"response_types_supported":                         `["code"]`,
			"access_token_signing_alg_values_supported":        `["ES256"]`,
			"device_authorization_endpoint":                    `"` + testIssuer + `/oauth/device/code"`,
			"pushed_authorization_request_endpoint":            `"` + testIssuer + `/oauth/par"`,
			"require_pushed_authorization_requests":            `false`,
		}
		for k, v := range want {
			if string(md[k]) != v {
				t.Errorf("%s = %s, want %s", k, md[k], v)
			}
		}
		for k, v := range map[string]string{
			"introspection_endpoint": `"` + testIssuer + `/oauth/introspect"`,
			"revocation_endpoint":    `"` + testIssuer + `/oauth/revoke"`,
			// OpenID Connect Discovery.
			"userinfo_endpoint":                     `"` + testIssuer + `/oauth/userinfo"`,
			"end_session_endpoint":                  `"` + testIssuer + `/oauth/logout"`,
			"subject_types_supported":               `["public"]`,
			"id_token_signing_alg_values_supported": `["RS256"]`,
			"request_uri_parameter_supported":       `true`,
			"request_parameter_supported":           `false`,
			"prompt_values_supported":               `["none","login","consent","select_account"]`,
		} {
			if string(md[k]) != v {
				t.Errorf("%s = %s, want %s", k, md[k], v)
			}
		}
		// Every advertised grant really works at the token endpoint (no unsupported_grant_type).
		var grants []string
		_ = json.Unmarshal(md["grant_types_supported"], &grants)
		for _, g := range grants {
			if r := f.post(url.Values{"grant_type": {g}}, "app", pwSecret); r.Body["error"] == "unsupported_grant_type" {
				t.Errorf("advertised grant %s is unsupported", g)
			}
		}
	})
}

// catalog is the fixture's scope catalog.
func (f *fixture) catalog(t *testing.T) *scopes.Catalog {
	t.Helper()
	cat, err := scopes.NewCatalog([]scopes.Definition{{Name: "orders:read"}, {Name: "orders:write"}}, []string{"orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// serve points the fixture's HTTP server at srv.
func (f *fixture) serve(t *testing.T, srv *authserver.Server) {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	f.ts, f.srv = ts, srv
}
