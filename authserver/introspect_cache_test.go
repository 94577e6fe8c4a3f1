package authserver_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

// The server remembers tokens whose signature it checked, to introspect them again
// without another ECDSA verification. These tests attack that memory: a variant of a
// remembered token must meet the full check, a revocation must be felt at once, and a
// key taken out of the ring must stop a remembered token.

func TestIntrospectVerifiedTokenLendsNothingToItsForgeries(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		access, _ := f.userTokens()
		auth := basic("rs", rsSecret)
		if r := f.introspect(access, auth); r.Body["active"] != true {
			t.Fatalf("genuine token: %d %s", r.Status, r.Raw)
		}

		parts := strings.Split(access, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		widened := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"orders:read orders:write"`, `"*"`, 1)))
		sig := []byte(parts[2])
		mid := len(sig) / 2
		if sig[mid] == 'A' {
			sig[mid] = 'B'
		} else {
			sig[mid] = 'A'
		}
		foreign := &keys.Ring{}
		rec, err := keys.Generate(keys.ES256, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := foreign.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
			t.Fatal(err)
		}
		resigned, err := foreign.Signer().Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{
			"widened scope, genuine signature": parts[0] + "." + widened + "." + parts[2],
			"one signature character changed":  parts[0] + "." + parts[1] + "." + string(sig),
			"same claims, foreign key":         resigned,
			"signature dropped":                parts[0] + "." + parts[1] + ".",
			"trailing character":               access + "A",
		} {
			wantInactive(t, name, f.introspect(tok, auth))
		}
		if r := f.introspect(access, auth); r.Body["active"] != true {
			t.Fatalf("genuine token after the forgeries: %d %s", r.Status, r.Raw)
		}

		if r := send(t, f.ts.URL, authserver.PathRevoke, map[string][]string{"token": {access}}, basic("app", pwSecret)); r.Status != 200 {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		wantInactive(t, "remembered token revoked", f.introspect(access, auth))
	})
}

func TestIntrospectVerifiedTokenDiesWithItsKey(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		access, _ := f.userTokens()
		auth := basic("rs", rsSecret)
		if r := f.introspect(access, auth); r.Body["active"] != true {
			t.Fatalf("genuine token: %d %s", r.Status, r.Raw)
		}
		// The ring now holds only a new key, as after an emergency rotation that
		// withdraws the old one: the token, still in the store and unexpired, is no
		// longer the server's word.
		rec, err := keys.Generate(keys.ES256, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.ring.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
			t.Fatal(err)
		}
		wantInactive(t, "token of a withdrawn key", f.introspect(access, auth))
	})
}
