package caddyfile

import (
	"github.com/caddyoauth/caddy-oauth/caddymodule"

	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestServerCaddyfileParsesBrowserOptions(t *testing.T) {
	var s caddymodule.Server
	d := cfparse.NewTestDispenser(`oauth_server {
		implicit_grant
		session_ttl 30m
	}`)
	if err := unmarshalServer(&s, d); err != nil {
		t.Fatal(err)
	}
	if !s.ImplicitGrant || s.SessionTTL != caddy.Duration(30*time.Minute) {
		t.Fatalf("implicit_grant %v, session_ttl %v", s.ImplicitGrant, time.Duration(s.SessionTTL))
	}
	var off caddymodule.Server
	if err := unmarshalServer(&off, cfparse.NewTestDispenser(`oauth_server`)); err != nil {
		t.Fatal(err)
	}
	if off.ImplicitGrant {
		t.Fatal("implicit_grant is on by default")
	}
}

func TestServerCaddyfileRefusesBadBrowserOptions(t *testing.T) {
	for _, in := range []string{
		"oauth_server {\n implicit_grant yes\n}",
		"oauth_server {\n session_ttl\n}",
		"oauth_server {\n session_ttl -5m\n}",
		"oauth_server {\n session_ttl soon\n}",
	} {
		var s caddymodule.Server
		if err := unmarshalServer(&s, cfparse.NewTestDispenser(in)); err == nil {
			t.Errorf("%q was accepted", in)
		}
	}
}
