package caddymodule_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/caddyoauth/caddy-oauth/caddymodule"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// jwksFile writes a JWK Set of a new Ed25519 key (its private half too, if private) and
// returns its path and content.
func jwksFile(t *testing.T, private bool) (string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var raw any = pub
	if private {
		raw = priv
	}
	k, _ := jwk.FromRaw(raw)
	_ = k.Set(jwk.KeyIDKey, "k1")
	set := jwk.NewSet()
	_ = set.AddKey(k)
	b, _ := json.Marshal(set)
	path := filepath.Join(t.TempDir(), "client.jwks.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, string(b)
}

func adaptCaddyfile(t *testing.T, db, clients string) []byte {
	t.Helper()
	cf := fmt.Sprintf("{\n\tadmin off\n\tpersist_config off\n}\nhttp://127.0.0.1:1 {\n\toauth_server {\n\t\tstorage sqlite %q\n%s\n\t}\n}\n", db, clients)
	raw, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestDeclaredPrivateKeyJWTClientsAreStoredWithTheirKeys(t *testing.T) {
	db := testdb.SQLitePath(t)
	path, content := jwksFile(t, false)
	raw := adaptCaddyfile(t, db, fmt.Sprintf("\t\tclient byfile {\n\t\t\tauth_method private_key_jwt\n\t\t\tjwks %q\n\t\t}\n"+
		"\t\tclient byuri {\n\t\t\tauth_method private_key_jwt\n\t\t\tjwks_uri https://svc.example/jwks.json\n\t\t\tintrospect\n\t\t}", path))
	for _, field := range []string{`"token_endpoint_auth_method":"private_key_jwt"`, `"jwks_file":`, `"jwks_uri":"https://svc.example/jwks.json"`} {
		if !strings.Contains(string(raw), field) {
			t.Fatalf("JSON config lacks %s: %s", field, raw)
		}
	}
	if err := caddymodule.ValidateJSON(t, raw); err != nil {
		t.Fatal(err)
	}
	caddymodule.PoolsEmpty(t)
	st, err := drivers.Open(context.Background(), "sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.GetClient(context.Background(), "byfile")
	if err != nil || c.TokenAuthMethod != store.TokenAuthPrivateKeyJWT || c.JWKS != content || c.SecretHash != "" {
		t.Fatalf("byfile: %+v %v", c, err)
	}
	c, err = st.GetClient(context.Background(), "byuri")
	if err != nil || c.TokenAuthMethod != store.TokenAuthPrivateKeyJWT || c.JWKSURI != "https://svc.example/jwks.json" || !c.Introspect {
		t.Fatalf("byuri: %+v %v", c, err)
	}
}

func TestDeclaredPrivateKeyJWTClientWithAPrivateKeyIsRefused(t *testing.T) {
	path, _ := jwksFile(t, true)
	raw := adaptCaddyfile(t, testdb.SQLitePath(t), fmt.Sprintf("\t\tclient leaky {\n\t\t\tauth_method private_key_jwt\n\t\t\tjwks %q\n\t\t}", path))
	err := caddymodule.ValidateJSON(t, raw)
	if err == nil || !strings.Contains(err.Error(), "leaky") || !strings.Contains(err.Error(), "private") {
		t.Fatalf("err = %v, want one naming the client and its private key material", err)
	}
	caddymodule.PoolsEmpty(t)
}
