package caddymodule_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/internal/laravel"
)

// What a Passport user writes first, as `caddy validate` sees it: jwks naming
// oauth-public.key and no issuer fails with an error that names the `passport` line;
// with that line the same site validates, with or without an issuer.
func TestGuardCaddyfileForPassportValidates(t *testing.T) {
	kp, err := laravel.NewKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "oauth-public.key")
	if err := os.WriteFile(pub, kp.PublicKeyPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	err = validate(t, "oauth_guard {\n\tjwks "+pub+"\n}\nrespond ok")
	if err == nil || !strings.Contains(err.Error(), "issuer") || !strings.Contains(err.Error(), "`passport`") {
		t.Fatalf("jwks without issuer: err = %v, want it to name issuer and the passport line", err)
	}
	for _, body := range []string{
		"oauth_guard {\n\tjwks " + pub + "\n\tpassport\n}\nrespond ok",
		"oauth_guard {\n\tjwks " + pub + "\n\tpassport\n\tissuer https://auth.example.com\n\tscopes all orders:read\n}\nrespond ok",
	} {
		if err := validate(t, body); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
}
