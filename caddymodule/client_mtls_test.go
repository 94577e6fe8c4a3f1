package caddymodule_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/caddymodule"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// caFile writes a PEM certificate (a CA's unless leaf) and returns its path.
func caFile(t *testing.T, isCA bool) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Clients CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: isCA, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDeclaredMutualTLSClientsAreStoredWithTheirCertificateRules(t *testing.T) {
	db := testdb.SQLitePath(t)
	jwksPath, jwks := jwksFile(t, false)
	// Placeholders work in the CA file name.
	t.Setenv("TEST_CLIENTS_CA", caFile(t, true))
	raw := adaptCaddyfile(t, db, fmt.Sprintf("\t\ttls_client_auth_trusted_ca {env.TEST_CLIENTS_CA}\n"+
		"\t\tclient pki {\n\t\t\tauth_method tls_client_auth\n\t\t\ttls_client_auth_subject_dn \"CN=app,O=Example,C=DE\"\n\t\t\tcertificate_bound_tokens\n\t\t\tintrospect\n\t\t}\n"+
		"\t\tclient ip {\n\t\t\tauth_method tls_client_auth\n\t\t\ttls_client_auth_san_ip 192.0.2.7\n\t\t}\n"+
		"\t\tclient self {\n\t\t\tauth_method self_signed_tls_client_auth\n\t\t\tjwks %q\n\t\t}\n"+
		"\t\tclient spa {\n\t\t\tgrants authorization_code refresh_token\n\t\t\tredirect_uri https://spa.example/cb\n\t\t\tcertificate_bound_tokens\n\t\t}",
		jwksPath))
	for _, field := range []string{`"tls_client_auth_trusted_ca":[`, `"token_endpoint_auth_method":"tls_client_auth"`,
		`"tls_client_auth_subject_dn":"CN=app,O=Example,C=DE"`, `"tls_client_auth_san_ip":"192.0.2.7"`, `"tls_client_certificate_bound_access_tokens":true`} {
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
	get := func(id string) *store.Client {
		c, err := st.GetClient(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := get("pki"); c.TokenAuthMethod != store.TokenAuthTLSClient || c.TLSClientAuthAttribute != "subject_dn" ||
		c.TLSClientAuthValue != "CN=app,O=Example,C=DE" || !c.CertBoundTokens || c.SecretHash != "" || !c.Introspect {
		t.Errorf("pki: %+v", c)
	}
	if c := get("ip"); c.TLSClientAuthAttribute != "san_ip" || c.TLSClientAuthValue != "192.0.2.7" || c.CertBoundTokens {
		t.Errorf("ip: %+v", c)
	}
	if c := get("self"); c.TokenAuthMethod != store.TokenAuthSelfSignedTLSClient || c.JWKS != jwks || c.SecretHash != "" {
		t.Errorf("self: %+v", c)
	}
	if c := get("spa"); !c.CertBoundTokens || c.Confidential() {
		t.Errorf("spa: %+v", c)
	}
}

func TestMutualTLSConfigurationMistakesStopTheLoad(t *testing.T) {
	for name, c := range map[string]struct{ body, want string }{
		"two attributes": {"\t\tclient two {\n\t\t\tauth_method tls_client_auth\n\t\t\ttls_client_auth_san_dns a.example\n\t\t\ttls_client_auth_san_ip 192.0.2.1\n\t\t}", "give one"},
		"no attribute":   {"\t\tclient none {\n\t\t\tauth_method tls_client_auth\n\t\t}", "one certificate attribute"},
		"bad subject":    {"\t\tclient bad {\n\t\t\tauth_method tls_client_auth\n\t\t\ttls_client_auth_subject_dn app\n\t\t}", "tls_client_auth_subject_dn"},
		"secret too":     {"\t\tclient both {\n\t\t\tauth_method tls_client_auth\n\t\t\ttls_client_auth_san_dns a.example\n\t\t\tsecret 0123456789abcdef0123\n\t\t}", "no secret"},
		"missing CA":     {fmt.Sprintf("\t\ttls_client_auth_trusted_ca %q", filepath.Join(t.TempDir(), "missing.pem")), "tls_client_auth_trusted_ca"},
		"leaf as CA":     {fmt.Sprintf("\t\ttls_client_auth_trusted_ca %q", caFile(t, false)), "not a CA"},
		"no certificate": {fmt.Sprintf("\t\ttls_client_auth_trusted_ca %q", notPEM(t)), "no PEM certificate"},
	} {
		raw := adaptCaddyfile(t, testdb.SQLitePath(t), c.body)
		err := caddymodule.ValidateJSON(t, raw)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one with %q", name, err, c.want)
		}
		caddymodule.PoolsEmpty(t)
	}
}

// notPEM writes a file that holds no certificate.
func notPEM(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
