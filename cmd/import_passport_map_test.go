package cmd

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
)

func ns(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func TestMapPassportClientKeepsIdsSecretsAndPassportsGrants(t *testing.T) {
	const uuid = "9b2f0c1e-6d3a-4c1b-9f7e-2a5b8c0d1e3f"
	cases := []struct {
		name       string
		row        passportClientRow
		wantGrants []string
		wantSecret func(string) bool
	}{
		{"plain secret is hashed", passportClientRow{ID: ns("1"), Secret: ns("s3cret"), Redirect: ns("https://a/cb,https://b/cb")},
			[]string{"authorization_code", "client_credentials", "refresh_token"},
			func(h string) bool { return h == authserver.HashSecret("s3cret") }},
		{"bcrypt secret is kept", passportClientRow{ID: ns(uuid), Secret: ns("$2y$10$abcdefghijklmnopqrstuv")},
			[]string{"authorization_code", "client_credentials", "refresh_token"},
			func(h string) bool { return h == "$2y$10$abcdefghijklmnopqrstuv" }},
		{"public client has no secret and no client credentials", passportClientRow{ID: ns("2"), Redirect: ns("https://a/cb")},
			[]string{"authorization_code", "refresh_token"}, func(h string) bool { return h == "" }},
		{"personal access client", passportClientRow{ID: ns("3"), Secret: ns("x"), Personal: true},
			[]string{"client_credentials", "personal_access", "refresh_token"}, func(h string) bool { return h != "" }},
		{"password client", passportClientRow{ID: ns("4"), Secret: ns("x"), Password: true, Provider: ns("admins")},
			[]string{"password", "client_credentials", "refresh_token"}, func(h string) bool { return h != "" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := mapPassportClient(c.row)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != c.row.ID.String || !slices.Equal(got.Grants, c.wantGrants) || !c.wantSecret(got.SecretHash) {
				t.Fatalf("got %+v", got)
			}
			if got.Provider != c.row.Provider.String || got.FirstParty {
				t.Fatalf("provider/first party: %+v", got)
			}
		})
	}
	if _, err := mapPassportClient(passportClientRow{ID: ns("8"), Secret: ns("$argon2id$v=19$m=65536,t=4,p=1$c2FsdA$aGFzaA")}); err == nil ||
		!strings.Contains(err.Error(), "oauth_clients row 8") || strings.Contains(err.Error(), "c2FsdA") {
		t.Fatalf("argon2 secret: %v", err)
	}
	c, _ := mapPassportClient(passportClientRow{ID: ns("1"), Redirect: ns(" https://a/cb , ,https://b/cb")})
	if !slices.Equal(c.RedirectURIs, []string{"https://a/cb", "https://b/cb"}) {
		t.Fatalf("redirect: %q", c.RedirectURIs)
	}
}

func TestMapPassportTokenReadsScopesAndNamesBadRows(t *testing.T) {
	clients := map[string]*store.Client{"1": {ID: "1"}, "2": {ID: "2", Provider: "admins"}}
	exp := time.Now().Add(time.Hour)
	at, err := mapPassportToken(passportTokenRow{ID: "t1", UserID: ns("7"), ClientID: ns("1"), Name: ns("cli"),
		Scopes: ns(`["a","b"]`), ExpiresAt: exp}, clients)
	if err != nil || !slices.Equal(at.Scopes, []string{"a", "b"}) || at.Name != "cli" || at.Provider != authserver.DefaultProvider {
		t.Fatalf("%+v %v", at, err)
	}
	at, _ = mapPassportToken(passportTokenRow{ID: "t2", UserID: ns("7"), ClientID: ns("2"), Scopes: ns("[]"), ExpiresAt: exp}, clients)
	if at.Provider != "admins" || len(at.Scopes) != 0 {
		t.Fatalf("%+v", at)
	}
	at, _ = mapPassportToken(passportTokenRow{ID: "t3", ClientID: ns("1"), ExpiresAt: exp}, clients)
	if at.UserID != "" || at.Provider != "" {
		t.Fatalf("client credentials token: %+v", at)
	}
	for _, bad := range []struct {
		row  passportTokenRow
		want string
	}{
		{passportTokenRow{ID: "t4", ClientID: ns("9"), ExpiresAt: exp}, `oauth_access_tokens row t4: client "9"`},
		{passportTokenRow{ID: "t5", ClientID: ns("1"), Scopes: ns(`"a b"`), ExpiresAt: exp}, "oauth_access_tokens row t5: scopes"},
		{passportTokenRow{ID: "t6", ClientID: ns("1")}, "oauth_access_tokens row t6: no expires_at"},
	} {
		if _, err := mapPassportToken(bad.row, clients); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("got %v, want %q", err, bad.want)
		}
	}
	if _, err := mapPassportRefresh("r1", "nope", false, exp, map[string]*store.AccessToken{}); err == nil || !strings.Contains(err.Error(), "oauth_refresh_tokens row r1") {
		t.Errorf("orphan refresh token: %v", err)
	}
	rt, _ := mapPassportRefresh("r2", "t1", false, exp, map[string]*store.AccessToken{"t1": {ID: "t1", ClientID: "1", UserID: "7"}})
	if rt.ID != store.PassportRefreshPrefix+"r2" || rt.FamilyID != rt.ID || rt.ClientID != "1" || rt.AccessTokenID != "t1" {
		t.Errorf("refresh: %+v", rt)
	}
}

func TestParseFromNamesDriversAndNeverEchoesTheDSN(t *testing.T) {
	for in, want := range map[string]string{"mysql:u:p@tcp(h)/db": "mysql", "mariadb:mysql://u:p@h/db": "mysql",
		"postgres:postgres://h/db": "postgres", "sqlite:/x/db.sqlite": "sqlite"} {
		if d, _, err := parseFrom(in); err != nil || d != want {
			t.Errorf("%s: %s %v", in, d, err)
		}
	}
	for _, bad := range []string{"", "mysql", "mysql:", "oracle:user:hunter2@h"} {
		_, _, err := parseFrom(bad)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestPassportKeyFromEnvironmentPKCS8AndMismatchRefused(t *testing.T) {
	kp, err := laravel.NewKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := laravel.NewKeyPair(2048)
	env := map[string]string{
		// One-line .env form, with \n escapes.
		"PASSPORT_PRIVATE_KEY": strings.ReplaceAll(string(kp.PrivateKeyPKCS8PEM()), "\n", `\n`),
		"PASSPORT_PUBLIC_KEY":  string(kp.PublicKeyPEM()),
	}
	k, src, err := passportKey("", func(n string) string { return env[n] })
	if err != nil || k == nil || k.Alg != "RS256" || src != "PASSPORT_PRIVATE_KEY" {
		t.Fatalf("%+v %s %v", k, src, err)
	}
	env["PASSPORT_PUBLIC_KEY"] = string(other.PublicKeyPEM())
	if _, _, err := passportKey("", func(n string) string { return env[n] }); err == nil || !strings.Contains(err.Error(), "not the private key's") {
		t.Fatalf("mismatched pair: %v", err)
	}
	if k, _, err := passportKey("", func(string) string { return "" }); k != nil || err != nil {
		t.Fatalf("no key: %v %v", k, err)
	}
	dir := t.TempDir()
	if _, _, err := passportKey(dir, os.Getenv); err == nil {
		t.Fatal("a --keys folder without oauth-private.key was accepted")
	}
	os.WriteFile(filepath.Join(dir, "oauth-private.key"), []byte("not pem"), 0o600)
	if _, _, err := passportKey(dir, os.Getenv); err == nil || strings.Contains(err.Error(), "not pem") {
		t.Fatalf("garbage key: %v", err)
	}
}

// A database without Passport's tables, or with a row that cannot be mapped, is refused
// with the table and row named, and the store is left as it was.
func TestImportPassportRefusesBadInputAndChangesNothing(t *testing.T) {
	s := storeSpec{"sqlite", testdb.SQLitePath(t)}
	openStore(t, s)
	before := testdb.Fingerprint(t, s.driver, s.dsn)
	empty := testdb.SQLitePath(t)
	db, err := sql.Open("sqlite", empty)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	mustFail(t, "oauth_clients", "import", "passport", "--storage", s.flag(), "--from", "sqlite:"+empty)

	app := testdb.SQLitePath(t)
	adb, err := sql.Open("sqlite", app)
	if err != nil {
		t.Fatal(err)
	}
	defer adb.Close()
	ctx := context.Background()
	if err := laravel.CreateSchema(ctx, adb, laravel.SQLite); err != nil {
		t.Fatal(err)
	}
	later := time.Now().UTC().Add(time.Hour).Format("2006-01-02 15:04:05")
	for _, q := range []string{
		`INSERT INTO oauth_clients (id, name, secret, redirect, personal_access_client, password_client, revoked) VALUES (1, 'A', 's', '', 0, 0, 0)`,
		`INSERT INTO oauth_access_tokens (id, user_id, client_id, scopes, revoked, expires_at) VALUES ('good', 7, 1, '["a"]', 0, '` + later + `')`,
		`INSERT INTO oauth_access_tokens (id, user_id, client_id, scopes, revoked, expires_at) VALUES ('bad-row', 7, 1, 'not json', 0, '` + later + `')`,
	} {
		if _, err := adb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	mustFail(t, "oauth_access_tokens row bad-row", "import", "passport", "--storage", s.flag(), "--from", "sqlite:"+app)
	if testdb.Fingerprint(t, s.driver, s.dsn) != before {
		t.Fatal("a refused import changed the store")
	}
}

// token revoke: one token, a user's, a client's; each revoked token is on the feed once,
// and bad arguments change nothing.
func TestTokenRevokeByIDUserAndClient(t *testing.T) {
	eachStore(t, func(t *testing.T, s storeSpec) {
		st := openStore(t, s)
		ctx := context.Background()
		for _, id := range []string{"c1", "c2"} {
			if err := st.CreateClient(ctx, &store.Client{ID: id, Name: id}); err != nil {
				t.Fatal(err)
			}
		}
		exp := time.Now().Add(time.Hour)
		tok := func(id, client, user string) {
			if err := st.CreateAccessToken(ctx, &store.AccessToken{ID: id, ClientID: client, UserID: user, ExpiresAt: exp}, nil); err != nil {
				t.Fatal(err)
			}
		}
		tok("a", "c1", "u1")
		tok("b", "c2", "u1")
		tok("c", "c1", "u2")
		tok("d", "c2", "u2")
		before := testdb.Fingerprint(t, s.driver, s.dsn)
		mustFail(t, "no access token", "token", "revoke", "nope", "--storage", s.flag())
		mustFail(t, "not both", "token", "revoke", "a", "--user", "u1", "--storage", s.flag())
		mustFail(t, "give a token id", "token", "revoke", "--storage", s.flag())
		mustFail(t, `no client "zz"`, "token", "revoke", "--client", "zz", "--storage", s.flag())
		if testdb.Fingerprint(t, s.driver, s.dsn) != before {
			t.Fatal("refused revocations changed the store")
		}
		if out := mustRun(t, "", "token", "revoke", "a", "--storage", s.flag()); !strings.Contains(out, "Revoked 1 ") {
			t.Errorf("revoke a: %q", out)
		}
		if out := mustRun(t, "", "token", "revoke", "--user", "u1", "--storage", s.flag()); !strings.Contains(out, "Revoked 1 ") {
			t.Errorf("revoke --user u1 (a already revoked): %q", out)
		}
		if out := mustRun(t, "", "token", "revoke", "--client", "c1", "--storage", s.flag()); !strings.Contains(out, "Revoked 1 ") {
			t.Errorf("revoke --client c1: %q", out)
		}
		entries, _, err := st.RevocationsAfter(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range entries {
			ids = append(ids, e.TokenID)
		}
		if !slices.Equal(ids, []string{"a", "b", "c"}) {
			t.Errorf("feed: %v", ids)
		}
		if d, _ := st.GetAccessToken(ctx, "d"); d == nil || d.Revoked {
			t.Errorf("d: %+v", d)
		}
	})
}
