package caddyfile

import (
	"strings"
	"testing"

	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddyoauth/caddy-oauth/caddymodule"
)

func TestClientBlockParsesPrivateKeyJWTOptions(t *testing.T) {
	src := "oauth_server {\n" +
		"client byfile {\n auth_method private_key_jwt\n jwks /etc/caddy/byfile.jwks.json\n grants client_credentials\n}\n" +
		"client inline {\n auth_method private_key_jwt\n jwks `{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"abc\"}]}`\n}\n" +
		"client byuri {\n auth_method private_key_jwt\n jwks_uri https://svc.example/jwks.json\n introspect\n}\n" +
		"}"
	var s caddymodule.Server
	if err := unmarshalServer(&s, cfparse.NewTestDispenser(src)); err != nil {
		t.Fatal(err)
	}
	if len(s.Clients) != 3 {
		t.Fatalf("clients %+v", s.Clients)
	}
	byfile, inline, byuri := s.Clients[0], s.Clients[1], s.Clients[2]
	if byfile.AuthMethod != "private_key_jwt" || byfile.JWKSFile != "/etc/caddy/byfile.jwks.json" || byfile.JWKS != "" {
		t.Errorf("byfile %+v", byfile)
	}
	if inline.JWKS != `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc"}]}` || inline.JWKSFile != "" {
		t.Errorf("inline %+v", inline)
	}
	if byuri.JWKSURI != "https://svc.example/jwks.json" || !byuri.Introspect {
		t.Errorf("byuri %+v", byuri)
	}
}

func TestClientBlockPrivateKeyJWTErrorsNameTheOption(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"client svc {\n auth_method\n}", "auth_method"},
		{"client svc {\n auth_method client_secret_jwt\n}", "auth_method"},
		{"client svc {\n jwks\n}", "jwks"},
		{"client svc {\n jwks a b\n}", "jwks"},
		{"client svc {\n jwks_uri\n}", "jwks_uri"},
	} {
		var s caddymodule.Server
		err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server {\n"+c.body+"\n}"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want it to name %q", c.body, err, c.want)
		}
	}
}

func TestClientBlockParsesMutualTLSOptions(t *testing.T) {
	src := "oauth_server {\n" +
		"tls_client_auth_trusted_ca /etc/caddy/clients-ca.pem {env.EXTRA_CA}\n" +
		"client pki {\n auth_method tls_client_auth\n tls_client_auth_subject_dn \"CN=app, O=Example Corp, C=DE\"\n certificate_bound_tokens\n}\n" +
		"client dns {\n auth_method tls_client_auth\n tls_client_auth_san_dns app.example.com\n}\n" +
		"client uri {\n auth_method tls_client_auth\n tls_client_auth_san_uri spiffe://example.org/app\n}\n" +
		"client ip {\n auth_method tls_client_auth\n tls_client_auth_san_ip 192.0.2.7\n}\n" +
		"client mail {\n auth_method tls_client_auth\n tls_client_auth_san_email app@example.com\n}\n" +
		"client self {\n auth_method self_signed_tls_client_auth\n jwks_uri https://svc.example/jwks.json\n}\n" +
		"client spa {\n grants authorization_code refresh_token\n redirect_uri https://spa.example/cb\n certificate_bound_tokens\n}\n" +
		"}"
	var s caddymodule.Server
	if err := unmarshalServer(&s, cfparse.NewTestDispenser(src)); err != nil {
		t.Fatal(err)
	}
	if len(s.TLSClientAuthTrustedCA) != 2 || s.TLSClientAuthTrustedCA[0] != "/etc/caddy/clients-ca.pem" || s.TLSClientAuthTrustedCA[1] != "{env.EXTRA_CA}" {
		t.Errorf("tls_client_auth_trusted_ca %v", s.TLSClientAuthTrustedCA)
	}
	if len(s.Clients) != 7 {
		t.Fatalf("clients %+v", s.Clients)
	}
	pki, dns, uri, ip, mail, self, spa := s.Clients[0], s.Clients[1], s.Clients[2], s.Clients[3], s.Clients[4], s.Clients[5], s.Clients[6]
	if pki.AuthMethod != "tls_client_auth" || pki.TLSClientAuthSubjectDN != "CN=app, O=Example Corp, C=DE" || !pki.CertBoundTokens {
		t.Errorf("pki %+v", pki)
	}
	if dns.TLSClientAuthSANDNS != "app.example.com" || uri.TLSClientAuthSANURI != "spiffe://example.org/app" ||
		ip.TLSClientAuthSANIP != "192.0.2.7" || mail.TLSClientAuthSANEmail != "app@example.com" || dns.CertBoundTokens {
		t.Errorf("SAN clients %+v %+v %+v %+v", dns, uri, ip, mail)
	}
	if self.AuthMethod != "self_signed_tls_client_auth" || self.JWKSURI != "https://svc.example/jwks.json" {
		t.Errorf("self %+v", self)
	}
	if spa.AuthMethod != "" || !spa.CertBoundTokens {
		t.Errorf("spa %+v", spa)
	}
}

func TestMutualTLSOptionErrorsNameTheOption(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"tls_client_auth_trusted_ca", "tls_client_auth_trusted_ca"},
		{"client svc {\n auth_method tls_client_authentication\n}", "auth_method"},
		{"client svc {\n tls_client_auth_subject_dn\n}", "tls_client_auth_subject_dn"},
		{"client svc {\n tls_client_auth_san_dns a.example b.example\n}", "tls_client_auth_san_dns"},
		{"client svc {\n certificate_bound_tokens yes\n}", "certificate_bound_tokens"},
	} {
		var s caddymodule.Server
		err := unmarshalServer(&s, cfparse.NewTestDispenser("oauth_server {\n"+c.body+"\n}"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want it to name %q", c.body, err, c.want)
		}
	}
}
