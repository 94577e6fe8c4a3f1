package authserver_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

func TestNewClientMakesCertificateClientsWithoutASecret(t *testing.T) {
	tlsAuth, selfSigned := store.TokenAuthTLSClient, store.TokenAuthSelfSignedTLSClient
	jwks := jwksOfKeys(t, newP256(t))
	for _, spec := range []authserver.ClientSpec{
		{ID: "dn", TokenAuthMethod: tlsAuth, TLSClientAuthAttribute: "subject_dn", TLSClientAuthValue: "CN=app,O=Example,C=DE"},
		{ID: "dns", TokenAuthMethod: tlsAuth, TLSClientAuthAttribute: "san_dns", TLSClientAuthValue: "app.example.com"},
		{ID: "uri", TokenAuthMethod: tlsAuth, TLSClientAuthAttribute: "san_uri", TLSClientAuthValue: "spiffe://example.org/app"},
		{ID: "ip", TokenAuthMethod: tlsAuth, TLSClientAuthAttribute: "san_ip", TLSClientAuthValue: "2001:db8::7"},
		{ID: "email", TokenAuthMethod: tlsAuth, TLSClientAuthAttribute: "san_email", TLSClientAuthValue: "app@example.com", CertBoundTokens: true},
		{ID: "self-inline", TokenAuthMethod: selfSigned, JWKS: jwks},
		{ID: "self-uri", TokenAuthMethod: selfSigned, JWKSURI: "https://client.example/jwks.json",
			Grants: []string{authserver.GrantAuthorizationCode}, RedirectURIs: []string{"https://client.example/cb"}},
	} {
		rec, secret, err := authserver.NewClient(spec, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", spec.ID, err)
		}
		if secret != "" || rec.SecretHash != "" || !rec.Confidential() {
			t.Fatalf("%s: secret %q, confidential %v", spec.ID, secret, rec.Confidential())
		}
		if rec.TokenAuthMethod != spec.TokenAuthMethod || rec.TLSClientAuthAttribute != spec.TLSClientAuthAttribute ||
			rec.TLSClientAuthValue != spec.TLSClientAuthValue || rec.JWKS != spec.JWKS || rec.JWKSURI != spec.JWKSURI ||
			rec.CertBoundTokens != spec.CertBoundTokens {
			t.Fatalf("%s: record %+v", spec.ID, rec)
		}
	}
	// Certificate-bound tokens are for any client, public ones included.
	rec, _, err := authserver.NewClient(authserver.ClientSpec{ID: "spa", CertBoundTokens: true,
		Grants: []string{authserver.GrantAuthorizationCode, authserver.GrantRefreshToken}, RedirectURIs: []string{"https://spa.example/cb"}}, time.Now())
	if err != nil || !rec.CertBoundTokens || rec.Confidential() {
		t.Fatalf("public certificate-bound client: %v %+v", err, rec)
	}
}

func TestNewClientRefusesBadCertificateClientRegistrations(t *testing.T) {
	tlsAuth, selfSigned := store.TokenAuthTLSClient, store.TokenAuthSelfSignedTLSClient
	jwks := jwksOfKeys(t, newP256(t))
	dn := func(s authserver.ClientSpec) authserver.ClientSpec {
		s.TokenAuthMethod, s.TLSClientAuthAttribute, s.TLSClientAuthValue = tlsAuth, "subject_dn", "CN=app"
		return s
	}
	for _, c := range []struct {
		name string
		spec authserver.ClientSpec
		want string
	}{
		{"tls_client_auth without an attribute", authserver.ClientSpec{TokenAuthMethod: tlsAuth}, "one certificate attribute"},
		{"tls_client_auth without a value", authserver.ClientSpec{TokenAuthMethod: tlsAuth, TLSClientAuthAttribute: "san_dns"}, "value is required"},
		{"unknown attribute", authserver.ClientSpec{TokenAuthMethod: tlsAuth, TLSClientAuthAttribute: "subject", TLSClientAuthValue: "CN=app"}, "must be one of"},
		{"bad subject_dn", authserver.ClientSpec{TokenAuthMethod: tlsAuth, TLSClientAuthAttribute: "subject_dn", TLSClientAuthValue: "app"}, "subject_dn"},
		{"bad san_ip", authserver.ClientSpec{TokenAuthMethod: tlsAuth, TLSClientAuthAttribute: "san_ip", TLSClientAuthValue: "192.0.2"}, "not an IP"},
		{"relative san_uri", authserver.ClientSpec{TokenAuthMethod: tlsAuth, TLSClientAuthAttribute: "san_uri", TLSClientAuthValue: "/app"}, "absolute"},
		{"tls_client_auth with jwks", dn(authserver.ClientSpec{JWKS: jwks}), "not by jwks"},
		{"tls_client_auth with a secret", dn(authserver.ClientSpec{Secret: "0123456789abcdef0123"}), "no secret"},
		{"tls_client_auth with a generated secret", dn(authserver.ClientSpec{GenerateSecret: true}), "no secret"},
		{"tls_client_auth with the implicit grant", dn(authserver.ClientSpec{Grants: []string{authserver.GrantImplicit}, RedirectURIs: []string{"https://a.example/cb"}}), "public clients only"},
		{"self-signed without keys", authserver.ClientSpec{TokenAuthMethod: selfSigned}, "jwks or jwks_uri"},
		{"self-signed with a secret", authserver.ClientSpec{TokenAuthMethod: selfSigned, JWKS: jwks, GenerateSecret: true}, "no secret"},
		{"self-signed with an attribute", authserver.ClientSpec{TokenAuthMethod: selfSigned, JWKS: jwks, TLSClientAuthAttribute: "san_dns", TLSClientAuthValue: "a.example"}, "tls_client_auth clients only"},
		{"an attribute without the method", authserver.ClientSpec{GenerateSecret: true, TLSClientAuthAttribute: "san_dns", TLSClientAuthValue: "a.example"}, "tls_client_auth clients only"},
		{"unknown method", authserver.ClientSpec{TokenAuthMethod: "tls_client_auth_please"}, "must be"},
	} {
		_, _, err := authserver.NewClient(c.spec, time.Now())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}
