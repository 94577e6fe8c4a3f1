package authserver_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/passwords"
	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/postgres"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

const (
	ccSecret   = "cc-secret-0123456789abcdef"
	pwSecret   = "pw-secret-0123456789abcdef"
	rsSecret   = "rs-secret-0123456789abcdef"
	userEmail  = "ada@example.com"
	userPass   = "correct horse battery"
	testIssuer = "https://auth.test"
)

// fixture is a server on a real store with one client of each kind and one user.
type fixture struct {
	t      testing.TB
	st     store.Store
	ts     *httptest.Server
	srv    *authserver.Server
	userID string
	dump   func() string // a fingerprint of every row, to prove bad input changes nothing
	ring   *keys.Ring
	cfg    authserver.Config // as the server was built, for a second server on the same state
}

// eachStore runs the test body once on SQLite and once on PostgreSQL.
func eachStore(t *testing.T, body func(t *testing.T, f *fixture)) {
	eachStoreWith(t, nil, body)
}

// eachStoreWith is eachStore with a change to the server's config (events, metrics).
func eachStoreWith(t *testing.T, configure func(*authserver.Config), body func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) {
		path := testdb.SQLitePath(t)
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, st, configure)
		f.dump = func() string { return testdb.Fingerprint(t, "sqlite", path) }
		body(t, f)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testdb.PostgresDSN(t)
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, st, configure)
		f.dump = func() string { return testdb.Fingerprint(t, "postgres", dsn) }
		body(t, f)
	})
}

func newFixture(t testing.TB, st store.Store, configure func(*authserver.Config)) *fixture {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	ring := &keys.Ring{}
	if err := keys.Bootstrap(ctx, st, ring, keys.ES256, time.Hour); err != nil {
		t.Fatal(err)
	}
	cat, err := scopes.NewCatalog([]scopes.Definition{
		{Name: "orders:read", Description: "Read orders"},
		{Name: "orders:write", Description: "Write orders"},
	}, []string{"orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, c := range []*store.Client{
		{ID: "svc", Name: "Service", SecretHash: authserver.HashSecret(ccSecret), Grants: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now},
		{ID: "app", Name: "App", SecretHash: authserver.HashSecret(pwSecret), Grants: []string{"password", "refresh_token"}, CreatedAt: now, UpdatedAt: now},
		{ID: "other", Name: "Other", SecretHash: authserver.HashSecret(pwSecret), Grants: []string{"password", "refresh_token"}, CreatedAt: now, UpdatedAt: now},
		// rs is a resource server allowed to introspect; it may also get user tokens by
		// password, which must never let it introspect.
		{ID: "rs", Name: "Resource server", SecretHash: authserver.HashSecret(rsSecret), Grants: []string{"client_credentials", "password"}, Introspect: true, CreatedAt: now, UpdatedAt: now},
		{ID: "pub", Name: "Public", Grants: []string{"refresh_token"}, Introspect: true, CreatedAt: now, UpdatedAt: now},
	} {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	hash, err := passwords.Bcrypt{Cost: 4}.Hash(userPass)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{ID: "user-1", Email: userEmail, PasswordHash: hash, CreatedAt: now}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	cfg := authserver.Config{Issuer: testIssuer, Store: st, Keys: ring, Scopes: cat}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := authserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &fixture{t: t, st: st, ts: ts, srv: srv, userID: u.ID, ring: ring, cfg: cfg}
}

type tokenReply struct {
	Status int
	Header http.Header
	Body   map[string]any
}

func (f *fixture) post(form url.Values, basicID, basicSecret string) tokenReply {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	return f.do(req)
}

func (f *fixture) do(req *http.Request) tokenReply {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return tokenReply{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// claims verifies a token against the server's JWKS and returns its header and claims.
func (f *fixture) claims(token string) (map[string]any, map[string]any) {
	f.t.Helper()
	resp, err := http.Get(f.ts.URL + authserver.PathJWKS)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	set, err := jwk.ParseReader(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	payload, err := jws.Verify([]byte(token), jws.WithKeySet(set, jws.WithRequireKid(true)))
	if err != nil {
		f.t.Fatalf("token does not verify against the JWKS: %v", err)
	}
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		f.t.Fatal(err)
	}
	hdrJSON, _ := json.Marshal(msg.Signatures()[0].ProtectedHeaders())
	var hdr, cl map[string]any
	_ = json.Unmarshal(hdrJSON, &hdr)
	if err := json.Unmarshal(payload, &cl); err != nil {
		f.t.Fatal(err)
	}
	return hdr, cl
}

func TestClientCredentialsIssuesRFC9068Token(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		r := f.post(url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read orders:write"}}, "svc", ccSecret)
		if r.Status != 200 {
			t.Fatalf("status %d body %v", r.Status, r.Body)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
		}
		if r.Body["token_type"] != "Bearer" || r.Body["scope"] != "orders:read orders:write" || r.Body["expires_in"].(float64) != 3600 {
			t.Errorf("body %v", r.Body)
		}
		if _, has := r.Body["refresh_token"]; has {
			t.Error("client credentials must not return a refresh token")
		}
		hdr, cl := f.claims(r.Body["access_token"].(string))
		if hdr["typ"] != "at+jwt" || hdr["alg"] != "ES256" || hdr["kid"] == "" {
			t.Errorf("header %v", hdr)
		}
		for k, want := range map[string]any{"iss": testIssuer, "sub": "svc", "client_id": "svc", "scope": "orders:read orders:write"} {
			if cl[k] != want {
				t.Errorf("claim %s = %v, want %v", k, cl[k], want)
			}
		}
		for _, k := range []string{"jti", "iat", "exp", "aud"} {
			if cl[k] == nil {
				t.Errorf("claim %s missing", k)
			}
		}
		rec, err := f.st.GetAccessToken(context.Background(), cl["jti"].(string))
		if err != nil {
			t.Fatalf("token not recorded: %v", err)
		}
		if rec.ClientID != "svc" || rec.UserID != "" || scopes.Format(rec.Scopes) != "orders:read orders:write" {
			t.Errorf("record %+v", rec)
		}
	})
}

func TestClientCredentialsDefaultAndWildcardScope(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		r := f.post(url.Values{"grant_type": {"client_credentials"}}, "svc", ccSecret)
		if r.Status != 200 || r.Body["scope"] != "orders:read" {
			t.Fatalf("default scope: %d %v", r.Status, r.Body)
		}
		r = f.post(url.Values{"grant_type": {"client_credentials"}, "scope": {"*"}}, "svc", ccSecret)
		if r.Status != 200 || r.Body["scope"] != "*" {
			t.Fatalf("wildcard: %d %v", r.Status, r.Body)
		}
	})
}

func TestClientSecretPostAuthenticates(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		r := f.post(url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {ccSecret}}, "", "")
		if r.Status != 200 {
			t.Fatalf("status %d %v", r.Status, r.Body)
		}
	})
}

// Every refused token request answers the RFC 6749 §5.2 error and changes nothing.
func TestTokenEndpointErrorsChangeNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		cc := func(extra url.Values) url.Values {
			v := url.Values{"grant_type": {"client_credentials"}}
			for k, vals := range extra {
				v[k] = vals
			}
			return v
		}
		cases := []struct {
			name        string
			form        url.Values
			id, secret  string
			status      int
			code        string
			basicHeader bool
		}{
			{"wrong secret by Basic", cc(nil), "svc", "wrong-secret-0123456789", 401, "invalid_client", true},
			{"wrong secret by post", cc(url.Values{"client_id": {"svc"}, "client_secret": {"nope"}}), "", "", 401, "invalid_client", false},
			{"unknown client", cc(nil), "ghost", ccSecret, 401, "invalid_client", true},
			{"no client auth", cc(nil), "", "", 401, "invalid_client", false},
			{"Basic and client_secret both", cc(url.Values{"client_secret": {ccSecret}}), "svc", ccSecret, 400, "invalid_request", false},
			{"missing grant_type", url.Values{}, "svc", ccSecret, 400, "invalid_request", false},
			{"unsupported grant_type", url.Values{"grant_type": {"urn:foo"}}, "svc", ccSecret, 400, "unsupported_grant_type", false},
			{"grant not allowed for client", url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "svc", ccSecret, 400, "unauthorized_client", false},
			{"undefined scope", cc(url.Values{"scope": {"orders:read admin"}}), "svc", ccSecret, 400, "invalid_scope", false},
			{"repeated parameter", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, "svc", ccSecret, 400, "invalid_request", false},
			{"password grant wrong password", url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {"wrong"}}, "app", pwSecret, 400, "invalid_grant", false},
			{"password grant unknown user", url.Values{"grant_type": {"password"}, "username": {"nobody@example.com"}, "password": {userPass}}, "app", pwSecret, 400, "invalid_grant", false},
			{"password grant missing password", url.Values{"grant_type": {"password"}, "username": {userEmail}}, "app", pwSecret, 400, "invalid_request", false},
			{"unknown refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, "app", pwSecret, 400, "invalid_grant", false},
		}
		before := f.dump()
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := f.post(c.form, c.id, c.secret)
				if r.Status != c.status || r.Body["error"] != c.code {
					t.Fatalf("got %d %v, want %d %s", r.Status, r.Body, c.status, c.code)
				}
				if got := r.Header.Get("WWW-Authenticate"); (got != "") != c.basicHeader || (c.basicHeader && !strings.HasPrefix(got, "Basic ")) {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if r.Header.Get("Cache-Control") != "no-store" {
					t.Error("error response is cacheable")
				}
			})
		}
		if after := f.dump(); after != before {
			t.Fatalf("store changed:\nbefore %s\nafter  %s", before, after)
		}
	})
}

func TestTokenEndpointRejectsNonFormBodiesAndGET(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		req, _ := http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathToken, strings.NewReader(`{"grant_type":"client_credentials"}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("svc", ccSecret)
		if r := f.do(req); r.Status != 400 || r.Body["error"] != "invalid_request" {
			t.Fatalf("JSON body: %d %v", r.Status, r.Body)
		}
		req, _ = http.NewRequest(http.MethodGet, f.ts.URL+authserver.PathToken+"?grant_type=client_credentials", nil)
		req.SetBasicAuth("svc", ccSecret)
		if r := f.do(req); r.Status != 405 {
			t.Fatalf("GET: %d", r.Status)
		}
	})
}

func TestPasswordGrantIssuesUserTokenAndRefreshToken(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		r := f.post(url.Values{"grant_type": {"password"}, "username": {"ADA@example.com"}, "password": {userPass}, "scope": {"orders:write"}}, "app", pwSecret)
		if r.Status != 200 {
			t.Fatalf("status %d %v", r.Status, r.Body)
		}
		if r.Body["refresh_token"] == nil {
			t.Fatal("no refresh token")
		}
		_, cl := f.claims(r.Body["access_token"].(string))
		if cl["sub"] != f.userID || cl["client_id"] != "app" || cl["provider"] != "users" {
			t.Errorf("claims %v", cl)
		}
		toks, _ := f.st.ListAccessTokens(context.Background(), f.userID)
		if len(toks) != 1 {
			t.Errorf("user has %d tokens recorded", len(toks))
		}
	})
}

func TestPasswordGrantMayRequestTheWildcard(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		r := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {"*"}}, "app", pwSecret)
		if r.Status != 200 || r.Body["scope"] != "*" {
			t.Fatalf("password grant with *: %d %v", r.Status, r.Body)
		}
	})
}

func TestRefreshTokenRotates(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		first := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "app", pwSecret)
		rt1 := first.Body["refresh_token"].(string)
		second := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, "app", pwSecret)
		if second.Status != 200 {
			t.Fatalf("refresh: %d %v", second.Status, second.Body)
		}
		rt2 := second.Body["refresh_token"].(string)
		if rt2 == rt1 {
			t.Fatal("refresh token was not rotated")
		}
		_, cl := f.claims(second.Body["access_token"].(string))
		if cl["sub"] != f.userID || cl["scope"] != "orders:read" {
			t.Errorf("refreshed claims %v", cl)
		}
		// The stored id is the digest, never the value.
		sum := sha256.Sum256([]byte(rt2))
		if rec, err := f.st.GetRefreshToken(context.Background(), hex.EncodeToString(sum[:])); err != nil || rec.Revoked {
			t.Fatalf("new refresh token record: %+v %v", rec, err)
		}
		third := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}, "app", pwSecret)
		if third.Status != 200 {
			t.Fatalf("second refresh: %d %v", third.Status, third.Body)
		}
	})
}

func TestRefreshTokenReuseRevokesChain(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		first := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "app", pwSecret)
		rt1 := first.Body["refresh_token"].(string)
		second := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, "app", pwSecret)
		rt2 := second.Body["refresh_token"].(string)

		reuse := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, "app", pwSecret)
		if reuse.Status != 400 || reuse.Body["error"] != "invalid_grant" {
			t.Fatalf("reuse: %d %v", reuse.Status, reuse.Body)
		}
		// The attacker's or the victim's newer token dies with the chain.
		after := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}, "app", pwSecret)
		if after.Status != 400 || after.Body["error"] != "invalid_grant" {
			t.Fatalf("newest token after reuse: %d %v", after.Status, after.Body)
		}
		toks, _ := f.st.ListAccessTokens(context.Background(), f.userID)
		for _, tk := range toks {
			if !tk.Revoked {
				t.Errorf("access token %s of the chain is not revoked", tk.ID)
			}
		}
	})
}

func TestRefreshTokenBoundToClientAndScopes(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		first := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {"orders:read"}}, "app", pwSecret)
		rt := first.Body["refresh_token"].(string)
		if r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "other", pwSecret); r.Status != 400 || r.Body["error"] != "invalid_grant" {
			t.Fatalf("other client: %d %v", r.Status, r.Body)
		}
		if r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"orders:write"}}, "app", pwSecret); r.Status != 400 || r.Body["error"] != "invalid_scope" {
			t.Fatalf("widening: %d %v", r.Status, r.Body)
		}
		// Neither refusal consumed the token.
		if r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "app", pwSecret); r.Status != 200 {
			t.Fatalf("refresh after refusals: %d %v", r.Status, r.Body)
		}
	})
}

func TestImportedBcryptClientSecretIsRestoredAsDigest(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		bh, _ := passwords.Bcrypt{Cost: 4}.Hash("passport-secret-0123456789")
		now := time.Now().UTC()
		if err := f.st.CreateClient(ctx, &store.Client{ID: "legacy", Name: "Legacy", SecretHash: "$2y$" + bh[4:], Grants: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if r := f.post(url.Values{"grant_type": {"client_credentials"}}, "legacy", "wrong"); r.Status != 401 {
			t.Fatalf("wrong secret on bcrypt client: %d", r.Status)
		}
		if r := f.post(url.Values{"grant_type": {"client_credentials"}}, "legacy", "passport-secret-0123456789"); r.Status != 200 {
			t.Fatalf("bcrypt client: %d %v", r.Status, r.Body)
		}
		c, _ := f.st.GetClient(ctx, "legacy")
		if c.SecretHash != authserver.HashSecret("passport-secret-0123456789") {
			t.Fatalf("secret not re-stored as digest: %q", c.SecretHash)
		}
		if r := f.post(url.Values{"grant_type": {"client_credentials"}}, "legacy", "passport-secret-0123456789"); r.Status != 200 {
			t.Fatalf("after rehash: %d", r.Status)
		}
	})
}

func TestMetadataAndJWKS(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		resp, err := http.Get(f.ts.URL + authserver.PathMetadata)
		if err != nil {
			t.Fatal(err)
		}
		var md map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		if md["issuer"] != testIssuer || md["token_endpoint"] != testIssuer+"/oauth/token" || md["jwks_uri"] != testIssuer+"/.well-known/jwks.json" {
			t.Errorf("metadata %v", md)
		}
		for k, want := range map[string]string{
			"introspection_endpoint":                                   testIssuer + "/oauth/introspect",
			"introspection_endpoint_auth_methods_supported":            `["client_secret_basic","private_key_jwt","self_signed_tls_client_auth"]`,
			"introspection_endpoint_auth_signing_alg_values_supported": `["RS256","PS256","ES256","ES384","EdDSA"]`,
			"revocation_endpoint":                                      testIssuer + "/oauth/revoke",
			"revocation_endpoint_auth_methods_supported":               `["client_secret_basic","client_secret_post","private_key_jwt","none","self_signed_tls_client_auth"]`,
			"revocation_endpoint_auth_signing_alg_values_supported":    `["RS256","PS256","ES256","ES384","EdDSA"]`,
		} {
			got, _ := md[k].(string)
			if got == "" {
				raw, _ := json.Marshal(md[k])
				got = string(raw)
			}
			if got != want {
				t.Errorf("%s = %s, want %s", k, got, want)
			}
		}
		grants, _ := json.Marshal(md["grant_types_supported"])
		if string(grants) != `["authorization_code","client_credentials","password","refresh_token","urn:ietf:params:oauth:grant-type:device_code"]` {
			t.Errorf("grant_types_supported %s", grants)
		}
		for k, want := range map[string]string{
			"authorization_endpoint":                         testIssuer + "/oauth/authorize",
			"response_types_supported":                       `["code"]`,
			"code_challenge_methods_supported":               `["S256"]`,
			"authorization_response_iss_parameter_supported": "true",
		} {
			got, _ := json.Marshal(md[k])
			if s, ok := md[k].(string); ok {
				got = []byte(s)
			}
			if string(got) != want {
				t.Errorf("%s = %s, want %s", k, got, want)
			}
		}
		resp, err = http.Get(f.ts.URL + authserver.PathJWKS)
		if err != nil {
			t.Fatal(err)
		}
		set, err := jwk.ParseReader(resp.Body)
		resp.Body.Close()
		// The access-token key (ES256) and the OpenID Connect ID-token key (RS256).
		if err != nil || set.Len() != 2 {
			t.Fatalf("jwks: %v len %d", err, set.Len())
		}
		for i, alg := range []string{"ES256", "RS256"} {
			k, _ := set.Key(i)
			if k.Algorithm().String() != alg || k.KeyID() == "" {
				t.Errorf("key %d alg %s kid %q, want %s", i, k.Algorithm(), k.KeyID(), alg)
			}
			if _, isPriv := k.(jwk.ECDSAPrivateKey); isPriv {
				t.Fatal("JWKS publishes a private key")
			}
			if _, isPriv := k.(jwk.RSAPrivateKey); isPriv {
				t.Fatal("JWKS publishes a private key")
			}
			raw, _ := json.Marshal(k)
			if strings.Contains(string(raw), `"d"`) {
				t.Fatal("JWKS contains private key material")
			}
		}
	})
}

// A token signed before a rotation keeps verifying against the JWKS after it.
func TestKeyRotationKeepsOldTokensVerifying(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		old := f.post(url.Values{"grant_type": {"client_credentials"}}, "svc", ccSecret).Body["access_token"].(string)
		if _, err := keys.Rotate(context.Background(), f.st, keys.ES256, store.KeyPurposeAccess); err != nil {
			t.Fatal(err)
		}
		// The server's ring reloads from the store as the Caddy glue does periodically.
		ring := &keys.Ring{}
		if err := keys.Reload(context.Background(), f.st, ring, time.Hour); err != nil {
			t.Fatal(err)
		}
		if kids := ring.PublishedKeyIDs(); len(kids) != 3 {
			t.Fatalf("published %v, want current and previous, and the ID-token key", kids)
		}
		set, err := jwk.Parse(ring.JWKS())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jws.Verify([]byte(old), jws.WithKeySet(set)); err != nil {
			t.Fatalf("old token no longer verifies: %v", err)
		}
		// Past the retention the old key leaves the JWKS.
		list, _ := f.st.ListSigningKeys(context.Background())
		if err := ring.Load(list, time.Hour, time.Now().Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if kids := ring.PublishedKeyIDs(); len(kids) != 2 { // the current access and ID-token keys
			t.Fatalf("after retention published %v", kids)
		}
	})
}

func TestClientSecretIsStoredAsDigest(t *testing.T) {
	s := authserver.NewSecret()
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not 256 random bits", s)
	}
	h := authserver.HashSecret(s)
	if strings.Contains(h, s) || !strings.HasPrefix(h, "sha256:") {
		t.Fatalf("stored form %q", h)
	}
	if ok, _ := authserver.VerifySecret(h, s); !ok {
		t.Fatal("secret does not verify against its digest")
	}
	if ok, _ := authserver.VerifySecret(h, s[:len(s)-1]+"x"); ok {
		t.Fatal("a different secret verified")
	}
	if ok, _ := authserver.VerifySecret("", ""); ok {
		t.Fatal("empty stored hash verified an empty secret")
	}
}
