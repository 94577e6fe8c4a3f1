package authserver_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

func TestNewClientMakesAPrivateKeyJWTClientWithoutASecret(t *testing.T) {
	k := newAssertionKey(t, "ES256", "k1")
	for _, spec := range []authserver.ClientSpec{
		{ID: "inline", TokenAuthMethod: store.TokenAuthPrivateKeyJWT, JWKS: jwksOf(t, k)},
		{ID: "uri", TokenAuthMethod: store.TokenAuthPrivateKeyJWT, JWKSURI: "https://client.example/jwks.json"},
		{ID: "loopback", TokenAuthMethod: store.TokenAuthPrivateKeyJWT, JWKSURI: "http://127.0.0.1:8080/jwks.json"},
		{ID: "localhost", TokenAuthMethod: store.TokenAuthPrivateKeyJWT, JWKSURI: "http://localhost/jwks.json",
			Grants: []string{authserver.GrantAuthorizationCode}, RedirectURIs: []string{"https://client.example/cb"}},
	} {
		rec, secret, err := authserver.NewClient(spec, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", spec.ID, err)
		}
		if secret != "" || rec.SecretHash != "" {
			t.Fatalf("%s: a private_key_jwt client got a secret", spec.ID)
		}
		if rec.TokenAuthMethod != store.TokenAuthPrivateKeyJWT || rec.JWKS != spec.JWKS || rec.JWKSURI != spec.JWKSURI {
			t.Fatalf("%s: record %+v", spec.ID, rec)
		}
		if !rec.Confidential() {
			t.Fatalf("%s: a private_key_jwt client must count as confidential", spec.ID)
		}
	}
}

func TestNewClientRefusesBadPrivateKeyJWTRegistrations(t *testing.T) {
	k := newAssertionKey(t, "ES256", "k1")
	privJSON, _ := json.Marshal(k.private)
	oct, _ := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	octJSON, _ := json.Marshal(oct)
	pkjwt := store.TokenAuthPrivateKeyJWT
	for _, c := range []struct {
		name string
		spec authserver.ClientSpec
		want string
	}{
		{"private key material", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKS: `{"keys":[` + string(privJSON) + `]}`}, "private"},
		{"symmetric key", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKS: `{"keys":[` + string(octJSON) + `]}`}, "symmetric"},
		{"empty key set", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKS: `{"keys":[]}`}, "no keys"},
		{"not JSON", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKS: `keys`}, "jwks"},
		{"key not for signing", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKS: strings.Replace(jwksOf(t, k), `"kty"`, `"use":"enc","kty"`, 1)}, "jwks"},
		{"no keys named", authserver.ClientSpec{TokenAuthMethod: pkjwt}, "jwks or jwks_uri"},
		{"both jwks and jwks_uri", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKS: jwksOf(t, k), JWKSURI: "https://c.example/k"}, "not both"},
		{"plain http jwks_uri", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKSURI: "http://client.example/jwks.json"}, "https"},
		{"relative jwks_uri", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKSURI: "/jwks.json"}, "absolute"},
		{"jwks_uri with credentials", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKSURI: "https://u:p@client.example/jwks.json"}, "user info"},
		{"a secret too", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKS: jwksOf(t, k), Secret: "0123456789abcdef0123"}, "no secret"},
		{"a generated secret too", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKS: jwksOf(t, k), GenerateSecret: true}, "no secret"},
		{"implicit grant", authserver.ClientSpec{TokenAuthMethod: pkjwt, JWKS: jwksOf(t, k), Grants: []string{authserver.GrantImplicit}}, "public clients only"},
		{"keys without the method", authserver.ClientSpec{GenerateSecret: true, JWKS: jwksOf(t, k)}, "private_key_jwt clients only"},
		{"unknown method", authserver.ClientSpec{TokenAuthMethod: "client_secret_jwt", GenerateSecret: true}, "token_endpoint_auth_method"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := authserver.NewClient(c.spec, time.Now())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
}
