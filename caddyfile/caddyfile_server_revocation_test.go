package caddyfile

import (
	"github.com/caddyoauth/caddy-oauth/caddymodule"

	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestServerCaddyfileParsesRevocationAndPurgeOptions(t *testing.T) {
	var s caddymodule.Server
	d := cfparse.NewTestDispenser(`oauth_server {
		revoke_previous_tokens
		purge_interval 90m
		passport_app_key {env.APP_KEY}
		key_encryption_key {env.NEW_KEK} {env.OLD_KEK}
		token_rate_limit {
			per_client 100
			per_ip off
			window 30s
		}
		client rs {
			secret s3cret-s3cret-s3cret
			introspect
		}
	}`)
	if err := unmarshalServer(&s, d); err != nil {
		t.Fatal(err)
	}
	if !s.RevokePreviousTokens || s.PurgeInterval != caddy.Duration(90*time.Minute) || len(s.Clients) != 1 || !s.Clients[0].Introspect ||
		s.PassportAppKey != "{env.APP_KEY}" || len(s.KeyEncryptionKeys) != 2 || s.KeyEncryptionKeys[1] != "{env.OLD_KEK}" ||
		*s.TokenRateLimit != (caddymodule.TokenRateLimitConfig{PerClient: 100, PerIP: -1, Window: caddy.Duration(30 * time.Second)}) {
		t.Fatalf("parsed %+v", s)
	}
}

func TestServerCaddyfileRefusesBadRevocationAndPurgeOptions(t *testing.T) {
	for _, in := range []string{
		`oauth_server {
			revoke_previous_tokens yes
		}`,
		`oauth_server {
			purge_interval
		}`,
		`oauth_server {
			purge_interval 0s
		}`,
		`oauth_server {
			purge_interval -1h
		}`,
		`oauth_server {
			purge_interval soon
		}`,
		`oauth_server {
			purge_interval 1h 2h
		}`,
		`oauth_server {
			passport_app_key
		}`,
		`oauth_server {
			passport_app_key a b
		}`,
		`oauth_server {
			key_encryption_key
		}`,
		`oauth_server {
			token_rate_limit {
				per_client 0
			}
		}`,
		`oauth_server {
			token_rate_limit {
				per_username 5
			}
		}`,
		`oauth_server {
			token_rate_limit {
				window 0s
			}
		}`,
		`oauth_server {
			token_rate_limit 5
		}`,
	} {
		var s caddymodule.Server
		if err := unmarshalServer(&s, cfparse.NewTestDispenser(in)); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
}
