package cmd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
)

func TestClientPrivateKeyJWTFlagsMakeAClientWithoutASecret(t *testing.T) {
	s := storeSpec{"sqlite", testdb.SQLitePath(t)}
	pub := newClientJWK(t, false)
	_ = pub.Set(jwk.KeyIDKey, "k1")
	file, setJSON := writeJWKS(t, "client.jwks.json", pub)

	st := openStore(t, s)
	for _, c := range []struct {
		flags         []string
		jwks, jwksURI string
	}{
		{[]string{"--client", "--private-key-jwt", "--jwks-file", file}, setJSON, ""},
		{[]string{"--client", "--private-key-jwt", "--jwks-uri", "https://svc.example/jwks.json"}, "", "https://svc.example/jwks.json"},
	} {
		out := mustRun(t, "", append([]string{"client", "--storage", s.flag(), "--name", "Keyed", "--json"}, c.flags...)...)
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: %q", c.flags, out)
		}
		if m["client_secret"] != nil {
			t.Fatalf("%v: a private_key_jwt client was given a secret: %s", c.flags, out)
		}
		rec, err := st.GetClient(context.Background(), m["client_id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if rec.TokenAuthMethod != store.TokenAuthPrivateKeyJWT || rec.SecretHash != "" || rec.JWKS != c.jwks || rec.JWKSURI != c.jwksURI {
			t.Fatalf("%v: stored %+v", c.flags, rec)
		}
	}
}

func TestClientPrivateKeyJWTRefusesBadFlags(t *testing.T) {
	s := storeSpec{"sqlite", testdb.SQLitePath(t)}
	bad, _ := writeJWKS(t, "private.jwks.json", newClientJWK(t, true))
	base := []string{"client", "--storage", s.flag(), "--name", "x", "--client"}
	mustFail(t, "needs --jwks-uri or --jwks-file", append(base, "--private-key-jwt")...)
	mustFail(t, "not both", append(base, "--private-key-jwt", "--jwks-uri", "https://a.example/k", "--jwks-file", bad)...)
	mustFail(t, "go with --private-key-jwt", append(base, "--jwks-uri", "https://a.example/k")...)
	mustFail(t, "https", append(base, "--private-key-jwt", "--jwks-uri", "http://a.example/k")...)
	mustFail(t, "private", append(base, "--private-key-jwt", "--jwks-file", bad)...)
	mustFail(t, "--jwks-file", append(base, "--private-key-jwt", "--jwks-file", filepath.Join(t.TempDir(), "missing"))...)
	mustFail(t, "does not go with --public", "client", "--storage", s.flag(), "--name", "x", "--public", "--redirect-uri", "https://a.example/cb", "--private-key-jwt", "--jwks-uri", "https://a.example/k")
	st := openStore(t, s)
	if cs, _ := st.ListClients(context.Background()); len(cs) != 0 {
		t.Fatalf("refused commands made %d clients", len(cs))
	}
}

// newClientJWK is a new P-256 key as a JWK: its public half, or with private the private
// key itself (what a client must not publish).
func newClientJWK(t *testing.T, private bool) jwk.Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var raw any = priv.Public()
	if private {
		raw = priv
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeJWKS writes a JWK set of k to a file name in a new temporary folder and returns
// the file's path and the set's JSON.
func writeJWKS(t *testing.T, name string, k jwk.Key) (file, setJSON string) {
	t.Helper()
	set := jwk.NewSet()
	if err := set.AddKey(k); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return file, string(b)
}
