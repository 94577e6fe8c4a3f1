package caddymodule

import (
	"context"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

// `keys {env.PASSPORT_PRIVATE_KEY}` signs with Passport's key, given as PEM content in
// the environment (multi-line, or one line with \n escapes, PKCS#1 or PKCS#8); a folder
// stays a folder; an unset variable or a broken key is refused without quoting it.
func TestKeysTakesPEMContentFromPlaceholders(t *testing.T) {
	kp, err := laravel.NewKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	want, err := keys.Thumbprint(&kp.Private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), testdb.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	idKey := ""
	for name, value := range map[string]string{
		"pkcs1":    string(kp.PrivateKeyPKCS1PEM()),
		"pkcs8":    string(kp.PrivateKeyPKCS8PEM()),
		"one line": strings.ReplaceAll(string(kp.PrivateKeyPKCS1PEM()), "\n", `\n`),
	} {
		t.Setenv("KEYS_PEM_TEST", value)
		set, err := (&Server{KeysDir: "{env.KEYS_PEM_TEST}"}).settings(caddy.NewReplacer(), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if set.keyPEM == nil || set.keyPEM.ID != want || set.keysDir != "" {
			t.Fatalf("%s: key %+v, dir %q", name, set.keyPEM, set.keysDir)
		}
		ring, err := loadRing(context.Background(), st, set)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ring.Signer().KeyID() != want {
			t.Fatalf("%s: signs with %s", name, ring.Signer().KeyID())
		}
		// ID tokens are signed by the store's RS256 ID-token key, made once.
		id := ring.IDTokenSigner()
		if id == nil || id.Alg() != keys.RS256 || id.KeyID() == want || (idKey != "" && id.KeyID() != idKey) {
			t.Fatalf("%s: ID-token signer %v (first one %q)", name, id, idKey)
		}
		idKey = id.KeyID()
	}

	t.Setenv("KEYS_PEM_TEST", "/etc/oauth-keys")
	if set, err := (&Server{KeysDir: "{env.KEYS_PEM_TEST}"}).settings(caddy.NewReplacer(), nil); err != nil || set.keysDir != "/etc/oauth-keys" || set.keyPEM != nil {
		t.Fatalf("folder: %+v %v", set, err)
	}
	t.Setenv("KEYS_PEM_TEST", "")
	if _, err := (&Server{KeysDir: "{env.KEYS_PEM_TEST}"}).settings(caddy.NewReplacer(), nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("unset variable: %v", err)
	}
	t.Setenv("KEYS_PEM_TEST", "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END RSA PRIVATE KEY-----\n")
	_, err = (&Server{KeysDir: "{env.KEYS_PEM_TEST}"}).settings(caddy.NewReplacer(), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "keys: PEM content") || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("broken key: %v", err)
	}
}
