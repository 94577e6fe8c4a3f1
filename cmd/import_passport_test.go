package cmd

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddyoauth/caddy-oauth/appdb"
	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/validator"
)

// passportApp is a Laravel application's database with Passport's tables filled as a
// running deployment has them, and the tokens it handed out.
type passportApp struct {
	from     string // the --from flag
	keyDir   string
	live     string // a live user token (client 1)
	personal string // a live personal access token (client 3)
	revoked  string // revoked, not expired
	expired  string
	ids      map[string]string // the above tokens' ids
	// appKey is the application's decoded APP_KEY; refresh is the live token's refresh
	// token and revokedRefresh the revoked one's, as Passport handed them out (encrypted
	// with appKey).
	appKey                  []byte
	refresh, revokedRefresh string
	// users is the database of the application's users table (appdb driver and DSN).
	usersDriver, usersDSN string
}

// newPassportApp builds the Laravel database in dialect on dsn (opened with sqlDriver).
func newPassportApp(t *testing.T, dialect, sqlDriver, dsn, from, usersDriver string) *passportApp {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open(sqlDriver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := laravel.CreateSchema(ctx, db, dialect); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, laravel.Placeholders(dialect, q), args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	bc, err := bcrypt.GenerateFromPassword([]byte("bcrypt-secret-2"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	phpHash := "$2y$" + string(bc[4:]) // PHP's password_hash prefix
	exec(`INSERT INTO users (id, name, email, password, created_at, updated_at) VALUES (7, 'Ada', 'ada@example.com', ?, ?, ?)`, phpHash, now, now)
	const client = `INSERT INTO oauth_clients (id, user_id, name, secret, provider, redirect, personal_access_client,
		password_client, revoked, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	exec(client, 1, 7, "Plain app", "plain-secret-1", nil, "https://a.example/cb, https://b.example/cb", false, false, false, now, now)
	exec(client, 2, nil, "Hashed app", phpHash, nil, "", false, false, false, now, now)
	exec(client, 3, nil, "Personal Access Client", "personal-secret-3", nil, "http://localhost", true, false, false, now, now)
	exec(client, 4, nil, "Password Grant Client", "password-secret-4", "users", "http://localhost", false, true, false, now, now)
	exec(client, 5, nil, "Revoked app", "revoked-secret-5", nil, "https://c.example/cb", false, false, true, now, now)
	exec(`INSERT INTO oauth_personal_access_clients (id, client_id, created_at, updated_at) VALUES (1, 3, ?, ?)`, now, now)

	kp, err := laravel.NewKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	app := &passportApp{from: from, keyDir: t.TempDir(), ids: map[string]string{}, usersDriver: usersDriver, usersDSN: dsn}
	_, app.appKey = laravel.NewAppKey()
	if err := os.WriteFile(filepath.Join(app.keyDir, "oauth-private.key"), kp.PrivateKeyPKCS1PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app.keyDir, "oauth-public.key"), kp.PublicKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = `INSERT INTO oauth_access_tokens (id, user_id, client_id, name, scopes, revoked, created_at, updated_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	mint := func(name string, user any, clientID, tokenName string, revoked bool, expires time.Time) string {
		id := laravel.NewTokenID()
		sub := ""
		if user != nil {
			sub = "7"
		}
		app.ids[name] = id
		exec(token, id, user, clientID, tokenName, `["orders:read"]`, revoked, now.Add(-time.Hour), now.Add(-time.Hour), expires)
		return kp.Mint(laravel.AccessToken{ID: id, ClientID: clientID, UserID: sub, Scopes: []string{"orders:read"},
			IssuedAt: now.Add(-time.Hour), ExpiresAt: expires.Add(123456 * time.Microsecond)})
	}
	app.live = mint("live", 7, "1", "", false, now.Add(time.Hour))
	app.personal = mint("personal", 7, "3", "cli", false, now.Add(24*time.Hour))
	app.revoked = mint("revoked", 7, "1", "", true, now.Add(time.Hour))
	app.expired = mint("expired", 7, "1", "", false, now.Add(-time.Minute))
	mint("gone", 7, "1", "", false, now.Add(-48*time.Hour))
	const refresh = `INSERT INTO oauth_refresh_tokens (id, access_token_id, revoked, expires_at) VALUES (?, ?, ?, ?)`
	// Refresh tokens as league/oauth2-server hands them out: the row's id and more,
	// encrypted with the APP_KEY. Passport revokes the refresh token of a revoked token.
	issueRefresh := func(access string, revoked bool) string {
		id, expires := laravel.NewTokenID(), now.Add(30*24*time.Hour)
		exec(refresh, id, app.ids[access], revoked, expires)
		return laravel.EncryptRefreshToken(app.appKey, laravel.RefreshToken{ClientID: "1", RefreshTokenID: id,
			AccessTokenID: app.ids[access], Scopes: []string{"orders:read"}, UserID: 7, ExpireTime: expires})
	}
	app.refresh = issueRefresh("live", false)
	app.revokedRefresh = issueRefresh("revoked", true)
	// A live refresh token of an expired access token brings that row over too.
	exec(refresh, laravel.NewTokenID(), app.ids["expired"], false, now.Add(30*24*time.Hour))
	exec(refresh, laravel.NewTokenID(), app.ids["gone"], false, now.Add(-time.Hour))
	return app
}

// The whole move: dry run changes nothing, the import brings clients, tokens and the key
// over, a second import changes nothing, and then Passport's tokens introspect, its
// revoked token stays refused (and is on the feed), and its client secrets still work.
func TestImportPassportMovesADeploymentOver(t *testing.T) {
	cases := []struct {
		name  string
		store func(t *testing.T) storeSpec
		app   func(t *testing.T) *passportApp
	}{
		{"mariadb-to-sqlite", func(t *testing.T) storeSpec { return storeSpec{"sqlite", testdb.SQLitePath(t)} },
			func(t *testing.T) *passportApp {
				dsn := testdb.MySQLDSN(t)
				return newPassportApp(t, laravel.MySQL, "mysql", dsn, "mysql:"+dsn, appdb.MySQL)
			}},
		{"postgres-to-postgres", func(t *testing.T) storeSpec { return storeSpec{"postgres", testdb.PostgresDSN(t)} },
			func(t *testing.T) *passportApp {
				dsn := testdb.PostgresDSN(t)
				return newPassportApp(t, laravel.Postgres, "pgx", dsn, "postgres:"+dsn, appdb.Postgres)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, app := tc.store(t), tc.app(t)
			st := openStore(t, s)
			ctx := context.Background()
			before := testdb.Fingerprint(t, s.driver, s.dsn)
			out := mustRun(t, "", "import", "passport", "--storage", s.flag(), "--from", app.from, "--keys", app.keyDir, "--dry-run")
			if !strings.Contains(out, "Dry run") || !strings.Contains(out, "would import 5 of 5 clients, 4 of 4 access tokens") {
				t.Fatalf("dry run said %q", out)
			}
			if after := testdb.Fingerprint(t, s.driver, s.dsn); after != before {
				t.Fatal("--dry-run changed the store")
			}
			var n map[string]any
			if err := json.Unmarshal([]byte(mustRun(t, "", "import", "passport", "--storage", s.flag(), "--from", app.from, "--keys", app.keyDir, "--json")), &n); err != nil {
				t.Fatal(err)
			}
			// live, personal, revoked, and expired (its refresh token lives); not gone.
			for k, want := range map[string]float64{"clients": 5, "access_tokens": 4, "refresh_tokens": 3, "revocations": 1} {
				if n[k] != want {
					t.Errorf("%s: %v, want %v (%v)", k, n[k], want, n)
				}
			}
			if n["signing_key"] != true {
				t.Errorf("signing key not imported: %v", n)
			}
			imported := testdb.Fingerprint(t, s.driver, s.dsn)
			out = mustRun(t, "", "import", "passport", "--storage", s.flag(), "--from", app.from, "--keys", app.keyDir)
			if !strings.Contains(out, "Imported 0 of 5 clients, 0 of 4 access tokens") {
				t.Errorf("second import said %q", out)
			}
			if testdb.Fingerprint(t, s.driver, s.dsn) != imported {
				t.Fatal("a second import changed the store")
			}

			// Clients as Passport had them.
			c1, err := st.GetClient(ctx, "1")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c1.RedirectURIs, []string{"https://a.example/cb", "https://b.example/cb"}) || c1.UserID != "7" ||
				strings.Contains(c1.SecretHash, "plain-secret-1") {
				t.Errorf("client 1: %+v", c1)
			}
			if c2, _ := st.GetClient(ctx, "2"); c2 == nil || !strings.HasPrefix(c2.SecretHash, "$2y$") {
				t.Errorf("client 2 secret not kept as bcrypt: %+v", c2)
			}
			if c3, _ := st.GetClient(ctx, "3"); c3 == nil || !c3.HasGrant(authserver.GrantPersonalAccess) || c3.HasGrant(authserver.GrantAuthorizationCode) {
				t.Errorf("client 3 is not a personal access client: %+v", c3)
			}
			if c4, _ := st.GetClient(ctx, "4"); c4 == nil || !c4.HasGrant(authserver.GrantPassword) || c4.Provider != "users" {
				t.Errorf("client 4 is not a password client: %+v", c4)
			}
			if c5, _ := st.GetClient(ctx, "5"); c5 == nil || !c5.Revoked {
				t.Errorf("client 5 not revoked: %+v", c5)
			}
			if pt, _ := st.GetAccessToken(ctx, app.ids["personal"]); pt == nil || pt.Name != "cli" || !slices.Equal(pt.Scopes, []string{"orders:read"}) {
				t.Errorf("personal token record: %+v", pt)
			}
			if _, err := st.GetAccessToken(ctx, app.ids["gone"]); err == nil {
				t.Error("an expired token with no live refresh token was imported")
			}
			entries, _, err := st.RevocationsAfter(ctx, 0, 100)
			if err != nil || len(entries) != 1 || entries[0].TokenID != app.ids["revoked"] {
				t.Errorf("revocation feed: %+v %v", entries, err)
			}

			// The server, as Caddy would start it on this store: Passport's key signs now.
			ring := &keys.Ring{}
			if err := keys.Bootstrap(ctx, st, ring, keys.ES256, time.Hour); err != nil {
				t.Fatal(err)
			}
			// Users log in against the application's users table (users sql), and the
			// application's APP_KEY opens Passport's refresh tokens.
			usersDB, err := appdb.Open(app.usersDriver, app.usersDSN)
			if err != nil {
				t.Fatal(err)
			}
			defer usersDB.Close()
			sqlUsers, err := authserver.NewSQLUsers(ctx, usersDB, authserver.DefaultUserQuery)
			if err != nil {
				t.Fatal(err)
			}
			users, err := sqlUsers.WithUsernames(ctx, authserver.DefaultUsernameQuery)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := authserver.New(authserver.Config{Issuer: "https://auth.test", Store: st, Keys: ring, Scopes: &scopes.Catalog{},
				Providers: map[string]authserver.UserProvider{authserver.DefaultProvider: users}, PassportAppKey: app.appKey})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			var rs map[string]any
			if err := json.Unmarshal([]byte(mustRun(t, "", "client", "--storage", s.flag(), "--client", "--introspect", "--name", "RS", "--json")), &rs); err != nil {
				t.Fatal(err)
			}
			introspect := func(token string) map[string]any {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, ts.URL+authserver.PathIntrospect, strings.NewReader(url.Values{"token": {token}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(rs["client_id"].(string), rs["client_secret"].(string))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body map[string]any
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
					t.Fatalf("introspect: %d %v", resp.StatusCode, err)
				}
				return body
			}
			for name, tok := range map[string]string{"live": app.live, "personal": app.personal} {
				got := introspect(tok)
				if got["active"] != true || got["client_id"] == nil || got["sub"] != "7" || got["scope"] != "orders:read" {
					t.Errorf("%s Passport token: %v", name, got)
				}
			}
			for name, tok := range map[string]string{"revoked": app.revoked, "expired": app.expired} {
				if got := introspect(tok); got["active"] != false {
					t.Errorf("%s Passport token is active: %v", name, got)
				}
			}

			// A guard on this server's JWKS finds the key for Passport's kid-less tokens
			// among the RS256 keys published (Passport's and the OpenID Connect ID-token
			// key) and the signature checks out with one of them.
			ks, err := validator.NewKeySourceContext(ctx, ts.URL+authserver.PathJWKS, validator.KeySourceOptions{RefreshInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer ks.Close()
			candidates, err := ks.Lookup(ctx, "", "RS256")
			if err != nil || len(candidates) != 2 {
				t.Fatalf("JWKS lookup for a kid-less RS256 token: %d keys, %v", len(candidates), err)
			}
			verified := 0
			for _, key := range candidates {
				if _, err := jws.Verify([]byte(app.live), jws.WithKey(jwa.RS256, key)); err == nil {
					verified++
				}
			}
			if verified != 1 {
				t.Fatalf("Passport token verifies with %d of the published RS256 keys, want 1", verified)
			}

			// Old secrets, plain and bcrypt, still get client_credentials tokens.
			for id, secret := range map[string]string{"1": "plain-secret-1", "2": "bcrypt-secret-2"} {
				for try, want := range map[string]int{secret: 200, secret + "x": 401} {
					resp, err := http.PostForm(ts.URL+authserver.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {try}})
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != want {
						t.Errorf("client %s with secret ...%s: %d, want %d", id, try[len(try)-2:], resp.StatusCode, want)
					}
				}
			}

			// One guard, as oauth_guard builds it with `passport`, takes Passport's token and
			// this server's alike.
			verifier, err := validator.NewJWTVerifier(validator.JWTOptions{Keys: ks, Issuer: "https://auth.test", Passport: true})
			if err != nil {
				t.Fatal(err)
			}
			guard, err := validator.NewGuard(validator.GuardOptions{Verifier: verifier, Subject: validator.UserSubject})
			if err != nil {
				t.Fatal(err)
			}
			passes := func(what, token string) {
				t.Helper()
				req := httptest.NewRequest(http.MethodGet, "https://api.test/orders", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				id, err := guard.Check(req)
				if err != nil || id.Subject() != "7" {
					t.Errorf("%s at the guard: %+v %v", what, id, err)
				}
			}
			passes("Passport's live token", app.live)

			// Passport's refresh tokens: the live one rotates into ours (once), the revoked
			// one stays refused.
			refresh := func(token string) (int, map[string]any) {
				t.Helper()
				resp, err := http.PostForm(ts.URL+authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token},
					"client_id": {"1"}, "client_secret": {"plain-secret-1"}})
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&body)
				return resp.StatusCode, body
			}
			if status, body := refresh(app.revokedRefresh); status != 400 || body["error"] != "invalid_grant" {
				t.Errorf("Passport's revoked refresh token: %d %v", status, body)
			}
			status, rotated := refresh(app.refresh)
			if status != 200 {
				t.Fatalf("Passport's refresh token: %d %v", status, rotated)
			}
			passes("the access token of the rotated grant", rotated["access_token"].(string))
			if status, body := refresh(rotated["refresh_token"].(string)); status != 200 {
				t.Errorf("the refresh token it rotated into: %d %v", status, body)
			}

			// The user signs in at the consent page with the password Laravel hashed.
			code := signInAndAuthorize(t, ts.URL, "1", "plain-secret-1", "https://a.example/cb", "ada@example.com", "bcrypt-secret-2")
			passes("the token of a new sign-in", code["access_token"].(string))

			// An operator revokes the live one; it is refused at once and on the feed.
			mustRun(t, "", "token", "revoke", app.ids["live"], "--storage", s.flag())
			if got := introspect(app.live); got["active"] != false {
				t.Errorf("revoked by the CLI, still active: %v", got)
			}
			entries, _, _ = st.RevocationsAfter(ctx, 0, 100)
			if len(entries) != 2 || entries[1].TokenID != app.ids["live"] {
				t.Errorf("feed after token revoke: %+v", entries)
			}
		})
	}
}
