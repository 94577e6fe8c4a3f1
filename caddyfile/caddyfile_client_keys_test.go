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
