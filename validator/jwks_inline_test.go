package validator_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/caddyoauth/caddy-oauth/validator"
)

func TestInlineKeySourcePinsAlgorithmsAndNeverRefetches(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := jwk.FromRaw(priv.Public())
	_ = k.Set(jwk.KeyIDKey, "k1")
	set := jwk.NewSet()
	_ = set.AddKey(k)
	data, _ := json.Marshal(set)

	src, err := validator.NewInlineKeySource(data)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if keys, err := src.Lookup(context.Background(), "k1", "ES256"); err != nil || len(keys) != 1 {
		t.Fatalf("k1 ES256: %v %v", keys, err)
	}
	for _, alg := range []string{"HS256", "none", "RS256"} {
		if _, err := src.Lookup(context.Background(), "k1", alg); !errors.Is(err, validator.ErrAlgorithmMismatch) {
			t.Errorf("k1 %s: %v, want ErrAlgorithmMismatch", alg, err)
		}
	}
	if _, err := src.Lookup(context.Background(), "k2", "ES256"); !errors.Is(err, validator.ErrUnknownKey) {
		t.Errorf("unknown kid: %v, want ErrUnknownKey", err)
	}
	for _, bad := range []string{"-----BEGIN PUBLIC KEY-----\n", `[]`, `{"keys":[]}`, `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`} {
		if _, err := validator.NewInlineKeySource([]byte(bad)); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
