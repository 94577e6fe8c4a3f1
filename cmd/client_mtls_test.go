package cmd

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
)

func TestClientMutualTLSFlagsMakeCertificateClients(t *testing.T) {
	s := storeSpec{"sqlite", testdb.SQLitePath(t)}
	file, setJSON := writeJWKS(t, "client.jwks.json", newClientJWK(t, false))
	st := openStore(t, s)
	for _, c := range []struct {
		flags  []string
		want   store.Client
		public bool
	}{
		{[]string{"--client", "--tls-client-auth", "subject_dn=CN=app,O=Example Corp,C=DE"},
			store.Client{TokenAuthMethod: store.TokenAuthTLSClient, TLSClientAuthAttribute: "subject_dn", TLSClientAuthValue: "CN=app,O=Example Corp,C=DE"}, false},
		{[]string{"--client", "--tls-client-auth", "san_dns=app.example.com", "--certificate-bound-tokens"},
			store.Client{TokenAuthMethod: store.TokenAuthTLSClient, TLSClientAuthAttribute: "san_dns", TLSClientAuthValue: "app.example.com", CertBoundTokens: true}, false},
		{[]string{"--client", "--self-signed-tls-client-auth", "--jwks-file", file},
			store.Client{TokenAuthMethod: store.TokenAuthSelfSignedTLSClient, JWKS: setJSON}, false},
		{[]string{"--client", "--self-signed-tls-client-auth", "--jwks-uri", "https://svc.example/jwks.json"},
			store.Client{TokenAuthMethod: store.TokenAuthSelfSignedTLSClient, JWKSURI: "https://svc.example/jwks.json"}, false},
		// A client with a secret, or a public one, may have certificate-bound tokens.
		{[]string{"--client", "--certificate-bound-tokens"}, store.Client{CertBoundTokens: true}, false},
		{[]string{"--public", "--redirect-uri", "https://spa.example/cb", "--certificate-bound-tokens"}, store.Client{CertBoundTokens: true}, true},
	} {
		out := mustRun(t, "", append([]string{"client", "--storage", s.flag(), "--name", "TLS", "--json"}, c.flags...)...)
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%v: %q", c.flags, out)
		}
		rec, err := st.GetClient(context.Background(), m["client_id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		certAuth := c.want.TokenAuthMethod != ""
		if (m["client_secret"] != nil) != (!certAuth && !c.public) || (rec.SecretHash != "") != (!certAuth && !c.public) {
			t.Fatalf("%v: secret %v, stored hash %q", c.flags, m["client_secret"], rec.SecretHash)
		}
		if rec.TokenAuthMethod != c.want.TokenAuthMethod || rec.TLSClientAuthAttribute != c.want.TLSClientAuthAttribute ||
			rec.TLSClientAuthValue != c.want.TLSClientAuthValue || rec.JWKS != c.want.JWKS || rec.JWKSURI != c.want.JWKSURI ||
			rec.CertBoundTokens != c.want.CertBoundTokens {
			t.Fatalf("%v: stored %+v", c.flags, rec)
		}
	}
}

func TestClientMutualTLSRefusesBadFlags(t *testing.T) {
	s := storeSpec{"sqlite", testdb.SQLitePath(t)}
	base := []string{"client", "--storage", s.flag(), "--name", "x", "--client"}
	mustFail(t, "ATTRIBUTE=VALUE", append(base, "--tls-client-auth", "app.example.com")...)
	mustFail(t, "must be one of", append(base, "--tls-client-auth", "subject=CN=app")...)
	mustFail(t, "tls_client_auth_subject_dn", append(base, "--tls-client-auth", "subject_dn=app")...)
	mustFail(t, "not an IP", append(base, "--tls-client-auth", "san_ip=192.0.2")...)
	mustFail(t, "choose one of", append(base, "--tls-client-auth", "san_dns=a.example", "--private-key-jwt", "--jwks-uri", "https://a.example/k")...)
	mustFail(t, "go with --private-key-jwt or --self-signed-tls-client-auth", append(base, "--tls-client-auth", "san_dns=a.example", "--jwks-uri", "https://a.example/k")...)
	mustFail(t, "--self-signed-tls-client-auth needs --jwks-uri or --jwks-file", append(base, "--self-signed-tls-client-auth")...)
	mustFail(t, "does not go with --device", "client", "--storage", s.flag(), "--name", "x", "--device", "--self-signed-tls-client-auth", "--jwks-uri", "https://a.example/k")
	st := openStore(t, s)
	if cs, _ := st.ListClients(context.Background()); len(cs) != 0 {
		t.Fatalf("refused commands made %d clients", len(cs))
	}
}
