package caddymodule_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/caddymodule"
	"github.com/caddyoauth/caddy-oauth/keyseal"
)

// storedPEMs reads the signing keys' private_pem as the SQLite file holds them.
func storedPEMs(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT private_pem FROM signing_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func newKEKValue(t *testing.T) string {
	k := make([]byte, keyseal.KeySize)
	rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// key_encryption_key from the environment: the store's keys are sealed from the first
// load on; a load with another key, or with none, stops with one line naming the signing
// key; a rotation (new key first, old after) reseals; a bad value is refused naming the
// option without showing it.
func TestServerKeyEncryptionKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "o.db")
	load := func(option string) error {
		return validate(t, "oauth_server {\n storage sqlite "+db+"\n"+option+"\n}")
	}
	if err := load(""); err != nil {
		t.Fatal(err)
	}
	// Two keys: the access-token key and the ID-token key.
	if pems := storedPEMs(t, db); len(pems) != 2 || !strings.Contains(pems[0], "PRIVATE KEY") || !strings.Contains(pems[1], "PRIVATE KEY") {
		t.Fatalf("without the option the keys are stored in the clear: %d keys", len(pems))
	}
	first, second := newKEKValue(t), newKEKValue(t)
	t.Setenv("TEST_OAUTH_KEK", first)
	if err := load("key_encryption_key {env.TEST_OAUTH_KEK}"); err != nil {
		t.Fatal(err)
	}
	if pems := storedPEMs(t, db); len(pems) != 2 || !keyseal.IsSealed([]byte(pems[0])) || !keyseal.IsSealed([]byte(pems[1])) {
		t.Fatalf("the keys are not sealed after a load with key_encryption_key: %d keys", len(pems))
	}
	for _, option := range []string{"", "key_encryption_key " + second} {
		err := load(option)
		if err == nil || !strings.Contains(err.Error(), "signing key ") || !strings.Contains(err.Error(), "key_encryption_key") ||
			strings.Contains(err.Error(), "\n") {
			t.Fatalf("load with %q: %v", option, err)
		}
		t.Logf("load with %q: %v", option, err)
	}
	if err := load("key_encryption_key " + second + " {env.TEST_OAUTH_KEK}"); err != nil {
		t.Fatalf("rotation: %v", err)
	}
	if err := load("key_encryption_key " + second); err != nil {
		t.Fatalf("the new key alone: %v", err)
	}
	for option, want := range map[string]string{
		"key_encryption_key {env.TEST_OAUTH_KEK_UNSET}": "key_encryption_key #1: empty",
		"key_encryption_key " + second + " c2hvcnQ=":    "key_encryption_key #2: decodes to 5 bytes",
	} {
		err := load(option)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), second) {
			t.Errorf("%q: %v, want %q", option, err, want)
		}
	}
	caddymodule.PoolsEmpty(t)
}
