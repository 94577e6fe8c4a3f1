package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
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
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// storeSpec is one store the CLI is pointed at.
type storeSpec struct{ driver, dsn string }

func (s storeSpec) flag() string { return s.driver + ":" + s.dsn }

// eachStore runs body against a fresh SQLite file and a fresh Postgres schema.
func eachStore(t *testing.T, body func(t *testing.T, s storeSpec)) {
	t.Run("sqlite", func(t *testing.T) { body(t, storeSpec{"sqlite", testdb.SQLitePath(t)}) })
	t.Run("postgres", func(t *testing.T) { body(t, storeSpec{"postgres", testdb.PostgresDSN(t)}) })
}

// run executes `caddy oauth <args>` in-process with stdin and returns stdout and the error.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	c := NewCommand()
	var out, errOut bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&errOut)
	c.SetIn(strings.NewReader(stdin))
	c.SetArgs(args)
	err := c.ExecuteContext(context.Background())
	return out.String(), err
}

func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := run(t, stdin, args...)
	if err != nil {
		t.Fatalf("caddy oauth %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// mustFail runs a command that must fail with one line naming want.
func mustFail(t *testing.T, want string, args ...string) {
	t.Helper()
	_, err := run(t, "", args...)
	if err == nil {
		t.Fatalf("caddy oauth %s succeeded", strings.Join(args, " "))
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("caddy oauth %s: %q does not say %q", strings.Join(args, " "), err, want)
	}
	if strings.Contains(strings.TrimSpace(err.Error()), "\n") {
		t.Errorf("caddy oauth %s: error is not one line: %q", strings.Join(args, " "), err)
	}
}

func openStore(t *testing.T, s storeSpec) store.Store {
	t.Helper()
	st, err := drivers.Open(context.Background(), s.driver, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestInstallMakesKeysAPersonalAndAPasswordClient(t *testing.T) {
	eachStore(t, func(t *testing.T, s storeSpec) {
		out := mustRun(t, "", "install", "--storage", s.flag(), "--json")
		// With --json, stdout is exactly one JSON array.
		var made []map[string]any
		if err := json.Unmarshal([]byte(out), &made); err != nil || len(made) != 2 {
			t.Fatalf("output %q: %v", out, err)
		}
		st := openStore(t, s)
		ctx := context.Background()
		list, err := st.ListSigningKeys(ctx)
		if err != nil || !sameKeyAlgs(list, keys.ES256) {
			t.Fatalf("signing keys %v %v", list, err)
		}
		wantGrants := [][]string{{authserver.GrantPersonalAccess}, {"password", "refresh_token"}}
		for i, m := range made {
			c, err := st.GetClient(ctx, m["client_id"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Grants, wantGrants[i]) {
				t.Errorf("client %d grants %v", i, c.Grants)
			}
			secret, _ := m["client_secret"].(string)
			if ok, _ := authserver.VerifySecret(c.SecretHash, secret); !ok || strings.Contains(c.SecretHash, secret) {
				t.Errorf("client %d: the printed secret does not match its stored digest", i)
			}
		}
		// Install again: the key is kept.
		mustRun(t, "", "install", "--storage", s.flag())
		if list, _ := st.ListSigningKeys(ctx); !sameKeyAlgs(list, keys.ES256) {
			t.Fatalf("second install made another key: %d", len(list))
		}
	})
}

func TestClientKindsPrintJSONWithTheContractFields(t *testing.T) {
	eachStore(t, func(t *testing.T, s storeSpec) {
		cases := []struct {
			flags     []string
			grants    []string
			hasSecret bool
		}{
			{[]string{"--client"}, []string{"client_credentials"}, true},
			{[]string{"--password", "--provider", "admins"}, []string{"password", "refresh_token"}, true},
			{[]string{"--personal"}, []string{authserver.GrantPersonalAccess}, true},
			{[]string{"--public", "--redirect-uri", "https://app.example/cb,https://app.example/cb2"}, []string{"authorization_code", "refresh_token"}, false},
			{[]string{"--redirect-uri", "https://web.example/cb", "--first-party", "--introspect"}, []string{"authorization_code", "refresh_token"}, true},
			{[]string{"--device"}, []string{authserver.GrantDeviceCode, "refresh_token"}, false},
			{[]string{"--public", "--redirect-uri", "https://par.example/cb", "--require-par"}, []string{"authorization_code", "refresh_token"}, false},
			{[]string{"--client", "--require-dpop"}, []string{"client_credentials"}, true},
		}
		st := openStore(t, s)
		for _, c := range cases {
			args := append([]string{"client", "--storage", s.flag(), "--name", "App " + c.flags[0], "--json"}, c.flags...)
			out := mustRun(t, "", args...)
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("%v: not one JSON object: %q", c.flags, out)
			}
			for _, k := range []string{"client_id", "client_secret", "name", "grants", "redirect_uris"} {
				if _, ok := m[k]; !ok {
					t.Errorf("%v: JSON has no %s: %s", c.flags, k, out)
				}
			}
			if (m["client_secret"] != nil) != c.hasSecret {
				t.Errorf("%v: client_secret = %v", c.flags, m["client_secret"])
			}
			if fmt.Sprint(m["grants"]) != fmt.Sprint(c.grants) || m["name"] != "App "+c.flags[0] {
				t.Errorf("%v: %s", c.flags, out)
			}
			rec, err := st.GetClient(context.Background(), m["client_id"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(rec.RedirectURIs) != fmt.Sprint(m["redirect_uris"]) || rec.Confidential() != c.hasSecret {
				t.Errorf("%v: stored %+v", c.flags, rec)
			}
			if slices.Contains(c.flags, "--first-party") && (!rec.FirstParty || !rec.Introspect) {
				t.Errorf("flags not stored: %+v", rec)
			}
			if rec.RequirePAR != slices.Contains(c.flags, "--require-par") {
				t.Errorf("%v: RequirePAR stored as %v", c.flags, rec.RequirePAR)
			}
			if rec.RequireDPoP != slices.Contains(c.flags, "--require-dpop") {
				t.Errorf("%v: RequireDPoP stored as %v", c.flags, rec.RequireDPoP)
			}
			if slices.Contains(c.flags, "--password") && rec.Provider != "admins" {
				t.Errorf("provider not stored: %+v", rec)
			}
		}

		// Without --json the id and secret are printed once, readably.
		out := mustRun(t, "", "client", "--storage", s.flag(), "--client", "--name", "Plain")
		if !strings.Contains(out, "Client ID:") || !strings.Contains(out, "Client secret:") {
			t.Errorf("plain output %q", out)
		}
	})
}

// A client made by the CLI authenticates at the token endpoint with the printed secret.
func TestCLIClientGetsATokenWithItsSecret(t *testing.T) {
	eachStore(t, func(t *testing.T, s storeSpec) {
		var out map[string]any
		if err := json.Unmarshal([]byte(mustRun(t, "", "client", "--storage", s.flag(), "--client", "--name", "Svc", "--json")), &out); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{"client_id": out["client_id"].(string), "client_secret": out["client_secret"].(string)}
		st := openStore(t, s)
		ring := &keys.Ring{}
		if err := keys.Bootstrap(context.Background(), st, ring, keys.ES256, time.Hour); err != nil {
			t.Fatal(err)
		}
		srv, err := authserver.New(authserver.Config{Issuer: "https://auth.test", Store: st, Keys: ring, Scopes: &scopes.Catalog{}})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		for secret, want := range map[string]int{m["client_secret"]: 200, m["client_secret"] + "x": 401} {
			resp, err := http.PostForm(ts.URL+authserver.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {m["client_id"]}, "client_secret": {secret}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("secret ...%s: %d, want %d", secret[len(secret)-3:], resp.StatusCode, want)
			}
		}
	})
}

// A client made with --device is public and gets a device code by its id alone.
func TestCLIDeviceClientGetsADeviceCode(t *testing.T) {
	eachStore(t, func(t *testing.T, s storeSpec) {
		var out map[string]any
		if err := json.Unmarshal([]byte(mustRun(t, "", "client", "--storage", s.flag(), "--device", "--name", "TV", "--json")), &out); err != nil {
			t.Fatal(err)
		}
		st := openStore(t, s)
		ring := &keys.Ring{}
		if err := keys.Bootstrap(context.Background(), st, ring, keys.ES256, time.Hour); err != nil {
			t.Fatal(err)
		}
		srv, err := authserver.New(authserver.Config{Issuer: "https://auth.test", Store: st, Keys: ring, Scopes: &scopes.Catalog{}})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		resp, err := http.PostForm(ts.URL+authserver.PathDeviceAuthorization, url.Values{"client_id": {out["client_id"].(string)}})
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || body["device_code"] == nil || body["verification_uri"] != "https://auth.test/oauth/device" {
			t.Fatalf("device authorization: %d %v", resp.StatusCode, body)
		}
	})
}

func TestClientRefusesBadFlags(t *testing.T) {
	s := storeSpec{"sqlite", testdb.SQLitePath(t)}
	mustFail(t, "--name is required", "client", "--storage", s.flag(), "--client")
	mustFail(t, "choose one of", "client", "--storage", s.flag(), "--client", "--password", "--name", "x")
	mustFail(t, "choose one of", "client", "--storage", s.flag(), "--device", "--public", "--name", "x")
	mustFail(t, "--redirect-uri is required", "client", "--storage", s.flag(), "--public", "--name", "x")
	st := openStore(t, s)
	if cs, _ := st.ListClients(context.Background()); len(cs) != 0 {
		t.Fatalf("refused commands made %d clients", len(cs))
	}
}

func TestUserAddListDelete(t *testing.T) {
	eachStore(t, func(t *testing.T, s storeSpec) {
		id := strings.TrimSpace(mustRun(t, "a long password\n", "user", "add", "--storage", s.flag(), "--email", "ada@example.com", "--password-stdin"))
		st := openStore(t, s)
		u, err := st.GetUser(context.Background(), id)
		if err != nil || u.Email != "ada@example.com" {
			t.Fatalf("user %q: %+v %v", id, u, err)
		}
		if ok, err := passwords.Verify(u.PasswordHash, "a long password"); !ok || err != nil {
			t.Fatalf("stored hash does not verify the password: %v", err)
		}
		if strings.Contains(u.PasswordHash, "a long password") {
			t.Fatal("password stored in the clear")
		}
		mustRun(t, "another password\n", "user", "add", "--storage", s.flag(), "--email", "bob@example.com", "--password-stdin")

		if _, err := run(t, "a long password\n", "user", "add", "--storage", s.flag(), "--email", "ada@example.com", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("duplicate email: %v", err)
		}
		if _, err := run(t, "short\n", "user", "add", "--storage", s.flag(), "--email", "c@example.com", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "at least 8") {
			t.Errorf("short password: %v", err)
		}
		mustFail(t, "--email", "user", "add", "--storage", s.flag(), "--email", "not-an-email", "--password-stdin")

		list := mustRun(t, "", "user", "list", "--storage", s.flag())
		if !strings.Contains(list, id+"\tada@example.com\t") || !strings.Contains(list, "bob@example.com") || strings.Count(list, "\n") != 2 {
			t.Fatalf("list %q", list)
		}
		mustRun(t, "", "user", "delete", "--storage", s.flag(), id)
		if _, err := st.GetUser(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted user still there: %v", err)
		}
		mustFail(t, "no user with id", "user", "delete", "--storage", s.flag(), id)
		if list := mustRun(t, "", "user", "list", "--storage", s.flag()); strings.Contains(list, "ada@") {
			t.Fatalf("list after delete %q", list)
		}
	})
}

// jwksOf loads the published key set the way a running server would after a reload.
func jwksOf(t *testing.T, st store.Store) (jwk.Set, *keys.Ring) {
	t.Helper()
	ring := &keys.Ring{}
	if err := keys.Reload(context.Background(), st, ring, time.Hour); err != nil {
		t.Fatal(err)
	}
	set, err := jwk.Parse(ring.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	return set, ring
}

// personalToken issues a token through the CLI and returns it with its kid.
func personalToken(t *testing.T, s storeSpec, userID string) (string, string) {
	t.Helper()
	var m map[string]any
	out := mustRun(t, "", "token", "--storage", s.flag(), "--user", userID, "--name", "ci", "--issuer", "https://auth.test", "--json")
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("token output %q", out)
	}
	tok := m["access_token"].(string)
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	return tok, msg.Signatures()[0].ProtectedHeaders().KeyID()
}

func TestKeysRotateKeepsOldTokensValid(t *testing.T) {
	eachStore(t, func(t *testing.T, s storeSpec) {
		mustRun(t, "", "install", "--storage", s.flag())
		userID := strings.TrimSpace(mustRun(t, "a long password\n", "user", "add", "--storage", s.flag(), "--email", "ada@example.com", "--password-stdin"))
		old, oldKid := personalToken(t, s, userID)

		if out := mustRun(t, "", "keys", "--storage", s.flag()); !strings.Contains(out, "already exists") {
			t.Errorf("keys on a store with a key: %q", out)
		}
		mustRun(t, "", "keys", "--storage", s.flag(), "--rotate")
		st := openStore(t, s)
		set, _ := jwksOf(t, st)
		if set.Len() != 4 {
			t.Fatalf("JWKS after rotation has %d keys, want the new and the old of each purpose", set.Len())
		}
		if _, ok := set.LookupKeyID(oldKid); !ok {
			t.Fatal("the old public key left the JWKS")
		}
		if _, err := jws.Verify([]byte(old), jws.WithKeySet(set, jws.WithRequireKid(true))); err != nil {
			t.Fatalf("a token issued before the rotation no longer verifies: %v", err)
		}
		fresh, newKid := personalToken(t, s, userID)
		if newKid == oldKid {
			t.Fatal("tokens are still signed with the old key after rotation")
		}
		if _, err := jws.Verify([]byte(fresh), jws.WithKeySet(set, jws.WithRequireKid(true))); err != nil {
			t.Fatalf("new token does not verify: %v", err)
		}

		// --force throws every key away: old tokens stop verifying.
		mustFail(t, "not both", "keys", "--storage", s.flag(), "--rotate", "--force")
		mustRun(t, "", "keys", "--storage", s.flag(), "--force", "--alg", "EdDSA")
		set, ring := jwksOf(t, st)
		if set.Len() != 2 || ring.Signer().Alg() != keys.EdDSA || ring.IDTokenSigner().Alg() != keys.RS256 {
			t.Fatalf("after --force: %d keys, alg %s", set.Len(), ring.Signer().Alg())
		}
		for _, tok := range []string{old, fresh} {
			if _, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithRequireKid(true))); err == nil {
				t.Fatal("a token signed by a forced-out key still verifies")
			}
		}
		mustFail(t, "--alg", "keys", "--storage", s.flag(), "--rotate", "--alg", "HS256")
	})
}

// The store is found from a Caddyfile's oauth_server, with placeholders resolved, or
// from --storage.
func TestCommandsFindTheStoreFromTheConfig(t *testing.T) {
	eachStore(t, func(t *testing.T, s storeSpec) {
		t.Setenv("CLI_TEST_DSN", s.dsn)
		dir := t.TempDir()
		cf := filepath.Join(dir, "Caddyfile")
		body := fmt.Sprintf("http://localhost:9 {\n\toauth_server {\n\t\tstorage %s {env.CLI_TEST_DSN}\n\t\tsigning_alg RS256\n\t}\n}\n", s.driver)
		if err := os.WriteFile(cf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		mustRun(t, "", "keys", "--config", cf)
		id := strings.TrimSpace(mustRun(t, "a long password\n", "user", "add", "--config", cf, "--email", "ada@example.com", "--password-stdin"))
		st := openStore(t, s)
		if _, err := st.GetUser(context.Background(), id); err != nil {
			t.Fatalf("the user did not land in the configured store: %v", err)
		}
		list, _ := st.ListSigningKeys(context.Background())
		if !sameKeyAlgs(list, keys.RS256) {
			t.Fatalf("keys made from --config: %+v (want an RS256 access-token key, the config's signing_alg)", list)
		}
		if out := mustRun(t, "", "user", "list", "--storage", s.flag()); !strings.Contains(out, id) {
			t.Fatalf("--storage sees another store: %q", out)
		}
		mustFail(t, "not both", "user", "list", "--config", cf, "--storage", s.flag())
	})
}

func TestCommandsFailWithOneClearLine(t *testing.T) {
	dir := t.TempDir()
	noServer := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(noServer, []byte("http://localhost:9 {\n\trespond ok\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.caddyfile")
	if err := os.WriteFile(broken, []byte("http://localhost:9 {\n\toauth_server {\n\t\tsigning_alg HS256\n\t}\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustFail(t, "no oauth_server", "user", "list", "--config", noServer)
	mustFail(t, "signing_alg", "user", "list", "--config", broken)
	mustFail(t, filepath.Join(dir, "missing"), "user", "list", "--config", filepath.Join(dir, "missing"))
	mustFail(t, "unknown database driver", "user", "list", "--storage", "mysql:x")
	mustFail(t, "postgres", "user", "list", "--storage", "postgres:postgres://nobody@127.0.0.1:1/x?connect_timeout=2")
	mustFail(t, "accepts 1 arg", "user", "delete", "--storage", "sqlite:"+filepath.Join(dir, "o.db"))
}

// --config is checked as Provision checks it, by the same code: a value the Caddyfile
// parses but a server would refuse stops every command, in the server's words.
func TestCommandsRefuseAConfigTheServerWouldRefuse(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"storage postgres":                        "storage postgres: a connection string is required",
		"storage mysql x":                         `storage: driver "mysql": must be sqlite or postgres`,
		"signing_alg HS256":                       `signing_alg "HS256": must be ES256, RS256 or EdDSA`,
		"default_scope nope":                      `default_scope "nope"`,
		"users sql {\n\t\tdatabase oracle x\n\t}": `users users sql: database: driver "oracle"`,
		"users sql {\n\t\tdatabase mysql x\n\t}":  `users users sql: database mysql: the DSN does not parse`,
	} {
		cf := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(cf, []byte("http://localhost:9 {\n\toauth_server {\n\t\t"+body+"\n\t}\n}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		mustFail(t, want, "user", "list", "--config", cf)
	}
}

// sameKeyAlgs reports whether list holds exactly one key of each purpose, both current:
// the access-token key of accessAlg and the RS256 ID-token key.
func sameKeyAlgs(list []*store.SigningKey, accessAlg string) bool {
	if len(list) != 2 {
		return false
	}
	want := map[string]string{store.KeyPurposeAccess: accessAlg, store.KeyPurposeIDToken: keys.RS256}
	for _, k := range list {
		if k.RetiredAt != nil || want[k.KeyPurpose()] != k.Alg {
			return false
		}
		delete(want, k.KeyPurpose())
	}
	return len(want) == 0
}
