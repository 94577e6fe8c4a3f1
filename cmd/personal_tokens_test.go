package cmd_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile" // the Caddyfile adapter --config uses
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	_ "modernc.org/sqlite" // the application database of the sql provider test

	"github.com/caddyoauth/caddy-oauth/authserver"
	oauthcmd "github.com/caddyoauth/caddy-oauth/cmd"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// env is a Caddyfile on a fresh store, and the store opened beside the commands.
type env struct {
	config string
	spec   string
	st     store.Store
}

// eachStore runs body with a Caddyfile naming a fresh SQLite file or Postgres schema,
// with two scopes and a second user provider, customers.
func eachStore(t *testing.T, body func(t *testing.T, e *env)) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			dsn := testdb.SQLitePath(t)
			if driver == "postgres" {
				dsn = testdb.PostgresDSN(t)
			}
			dir := t.TempDir()
			config := filepath.Join(dir, "Caddyfile")
			cf := fmt.Sprintf(`http://127.0.0.1:1 {
	oauth_server {
		issuer https://auth.test
		storage %s %q
		scope orders:read Read your orders
		scope orders:write Change your orders
		default_scope orders:read
		users builtin
		users customers builtin
	}
}
`, driver, dsn)
			if err := os.WriteFile(config, []byte(cf), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := drivers.Open(context.Background(), driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			body(t, &env{config: config, spec: driver + ":" + dsn, st: st})
		})
	}
}

// oauthRun runs `caddy oauth args...` and returns its standard output and error; what went
// to standard error is added to the error.
func oauthRun(stdin string, args ...string) (string, error) {
	c := oauthcmd.NewCommand()
	var out, errOut bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&errOut)
	c.SetIn(strings.NewReader(stdin))
	c.SetArgs(args)
	err := c.ExecuteContext(context.Background())
	if err != nil {
		err = fmt.Errorf("%w\n%s", err, errOut.String())
	}
	return out.String(), err
}

func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := oauthRun(stdin, args...)
	if err != nil {
		t.Fatalf("caddy oauth %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

type madeClient struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Name         string   `json:"name"`
	Grants       []string `json:"grants"`
}

func TestInstallMakesOnePersonalAccessClientPerProvider(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		var first []madeClient
		if err := json.Unmarshal([]byte(mustRun(t, "", "install", "--config", e.config, "--json")), &first); err != nil {
			t.Fatal(err)
		}
		clients, _ := e.st.ListClients(context.Background())
		personal := map[string]int{}
		for _, c := range clients {
			if c.HasGrant(authserver.GrantPersonalAccess) {
				p := c.Provider
				if p == "" {
					p = authserver.DefaultProvider
				}
				personal[p]++
			}
		}
		if len(first) != 3 || personal["users"] != 1 || personal["customers"] != 1 {
			t.Fatalf("install made %+v; personal clients per provider %v", first, personal)
		}
		if keys, _ := e.st.ListSigningKeys(context.Background()); len(keys) != 2 { // access and ID-token keys
			t.Fatalf("%d signing keys", len(keys))
		}
		// Again: the personal clients exist, only a new password client is made.
		var second []madeClient
		if err := json.Unmarshal([]byte(mustRun(t, "", "install", "--config", e.config, "--json")), &second); err != nil {
			t.Fatal(err)
		}
		if len(second) != 1 || second[0].Grants[0] != "password" || second[0].ClientSecret == "" {
			t.Fatalf("second install made %+v", second)
		}
	})
}

func TestTokenCommandIssuesNamedTokenWithCatalogScopes(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		userID := strings.TrimSpace(mustRun(t, "a long password\n", "user", "add", "--config", e.config, "--email", "pat@example.com", "--password-stdin"))
		// No personal access client yet.
		if _, err := oauthRun("", "token", "--config", e.config, "--user", userID, "--name", "ci"); err == nil || !strings.Contains(err.Error(), "no personal access client") {
			t.Fatalf("token before install: %v", err)
		}
		mustRun(t, "", "install", "--config", e.config)
		out := mustRun(t, "", "token", "--config", e.config, "--user", userID, "--name", "deploy bot", "--scopes", "orders:write, orders:read,orders:write", "--json")
		var got struct {
			AccessToken string   `json:"access_token"`
			TokenID     string   `json:"token_id"`
			Scopes      []string `json:"scopes"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		rec, err := e.st.GetAccessToken(ctx, got.TokenID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Name != "deploy bot" || rec.UserID != userID || rec.Provider != "users" || strings.Join(rec.Scopes, " ") != "orders:write orders:read" {
			t.Fatalf("record %+v", rec)
		}
		client, _ := e.st.GetClient(ctx, rec.ClientID)
		if !client.HasGrant(authserver.GrantPersonalAccess) {
			t.Fatalf("issued through %+v, not the personal access client", client)
		}
		cl := verifiedClaims(t, e.st, got.AccessToken)
		if cl["sub"] != userID || cl["scope"] != "orders:write orders:read" || cl["iss"] != "https://auth.test" || cl["jti"] != got.TokenID {
			t.Fatalf("claims %v", cl)
		}
		// A customers user gets a token of the customers provider, through its own client.
		out = mustRun(t, "", "token", "--config", e.config, "--user", userID, "--name", "c", "--provider", "customers", "--json")
		_ = json.Unmarshal([]byte(out), &got)
		if cl := verifiedClaims(t, e.st, got.AccessToken); cl["provider"] != "customers" || cl["client_id"] == rec.ClientID {
			t.Fatalf("customers token claims %v", cl)
		}
	})
}

func TestTokenCommandRefusesBadRequestsAndChangesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		userID := strings.TrimSpace(mustRun(t, "a long password\n", "user", "add", "--config", e.config, "--email", "pat@example.com", "--password-stdin"))
		mustRun(t, "", "install", "--config", e.config)
		before := testdb.Fingerprint(t, strings.SplitN(e.spec, ":", 2)[0], strings.SplitN(e.spec, ":", 2)[1])
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"--user", userID, "--name", "x", "--scopes", "admin"}, `scope "admin" is not defined`},
			{[]string{"--user", userID, "--name", "x", "--scopes", "*"}, "the scope * may only"},
			{[]string{"--user", "no-such-user", "--name", "x"}, "no user with id"},
			{[]string{"--user", userID, "--name", "  "}, "are required"},
			{[]string{"--user", userID, "--name", strings.Repeat("n", 256)}, "longer than 255"},
			{[]string{"--user", userID, "--name", "x", "--provider", "admins"}, `provider "admins" is not configured`},
		} {
			args := append([]string{"token", "--config", e.config}, c.args...)
			if out, err := oauthRun("", args...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: got %v (%s), want an error containing %q", c.args, err, out, c.want)
			}
		}
		if after := testdb.Fingerprint(t, strings.SplitN(e.spec, ":", 2)[0], strings.SplitN(e.spec, ":", 2)[1]); after != before {
			t.Fatal("a refused token command changed the store")
		}
	})
}

func TestClientCommandRefusesUnconfiguredProvider(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		if _, err := oauthRun("", "client", "--config", e.config, "--password", "--name", "X", "--provider", "admins"); err == nil || !strings.Contains(err.Error(), "no such user provider") {
			t.Fatalf("got %v", err)
		}
		out := mustRun(t, "", "client", "--config", e.config, "--password", "--name", "Shop", "--provider", "customers", "--json")
		var c madeClient
		_ = json.Unmarshal([]byte(out), &c)
		rec, err := e.st.GetClient(context.Background(), c.ClientID)
		if err != nil || rec.Provider != "customers" {
			t.Fatalf("client %+v %v", rec, err)
		}
	})
}

// verifiedClaims checks a token's signature with the store's keys and returns its claims.
func verifiedClaims(t *testing.T, st store.Store, token string) map[string]any {
	t.Helper()
	ring := &keys.Ring{}
	if err := keys.Reload(context.Background(), st, ring, 0); err != nil {
		t.Fatal(err)
	}
	set, err := jwk.Parse(ring.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify([]byte(token), jws.WithKeySet(set))
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	var cl map[string]any
	if err := json.Unmarshal(payload, &cl); err != nil {
		t.Fatal(err)
	}
	return cl
}

// A sql provider's database is opened only when a command is about that provider: a
// token for a built-in user does not depend on it, and a token for the sql provider's
// user goes through that provider's personal access client.
func TestTokenCommandOpensOnlyTheRequestedSQLProvider(t *testing.T) {
	dir := t.TempDir()
	storePath, appPath := filepath.Join(dir, "oauth.db"), filepath.Join(dir, "app.sqlite")
	app, err := sql.Open("sqlite", appPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Exec(`CREATE TABLE users (id integer PRIMARY KEY, email text, password text)`); err != nil {
		t.Fatal(err)
	}
	// The provider names users from their ids (the default username query): user 42
	// must exist for a personal token to be issued to it.
	if _, err := app.Exec(`INSERT INTO users VALUES (42, 'shop@example.com', '$2y$10$x')`); err != nil {
		t.Fatal(err)
	}
	app.Close()
	config := filepath.Join(dir, "Caddyfile")
	cf := fmt.Sprintf(`http://127.0.0.1:1 {
	oauth_server {
		issuer https://auth.test
		storage sqlite %q
		users shop sql {
			database sqlite %q
		}
		users broken sql {
			database sqlite %q
			query "SELECT id, password FROM no_such_table WHERE email = $1"
		}
	}
}
`, storePath, appPath, appPath)
	if err := os.WriteFile(config, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	userID := strings.TrimSpace(mustRun(t, "a long password\n", "user", "add", "--config", config, "--email", "pat@example.com", "--password-stdin"))
	mustRun(t, "", "install", "--config", config)
	mustRun(t, "", "token", "--config", config, "--user", userID, "--name", "builtin")
	out := mustRun(t, "", "token", "--config", config, "--user", "42", "--name", "shop", "--provider", "shop", "--json")
	var got struct {
		TokenID string `json:"token_id"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	st, err := drivers.Open(context.Background(), "sqlite", storePath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.GetAccessToken(context.Background(), got.TokenID)
	if err != nil || rec.Provider != "shop" || rec.UserID != "42" {
		t.Fatalf("record %+v %v", rec, err)
	}
	if _, err := oauthRun("", "token", "--config", config, "--user", "42", "--name", "x", "--provider", "broken"); err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("a broken provider's query: %v", err)
	}
}
