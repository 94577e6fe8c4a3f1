package integration

import (
	"fmt"
	"strings"
	"testing"
)

// Through real Caddy: identity headers spoofed with '_' or '.' for '-', in any case, never
// reach the upstream, where CGI-style readers (PHP behind php_fastcgi) would fold them into
// the real header's variable. Caddy drops such names by default; this site allows them
// (expected_underscore_headers, expected_dot_headers), as a site with a PHP app expecting
// one may, so only the guard stands in the way. A client token carries no user id, so a
// surviving spoof would be the only one.
func TestSpoofedIdentityHeadersWithUnderscoresNeverReachTheUpstream(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		t.Setenv("IT_SVC_SECRET", svcSecret)
		auth, api := freePort(t), freePort(t)
		up := newUpstream(t)
		issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
		startCaddy(t, fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	servers {
		expected_underscore_headers x_oauth_*
		expected_dot_headers x.oauth.*
	}
}

http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		%s
		scope orders:read Read your orders
		client svc {
			secret {env.IT_SVC_SECRET}
			grants client_credentials
		}
	}
}

http://127.0.0.1:%d {
	oauth_guard {
		jwks %s/.well-known/jwks.json
		issuer %s
	}
	reverse_proxy %s
}`, auth, issuer, sc.directive(), api, issuer, issuer, strings.TrimPrefix(up.URL, "http://")))
		s := &site{issuer: issuer, tokenURL: issuer + "/oauth/token", up: up}
		tok := s.clientToken(t, s.tokenURL, "orders:read")
		for _, spoof := range []map[string]string{
			{"X_OAuth_User_Id": "admin"},
			{"x_oauth_scopes": "*"},
			{"X_OAUTH_CLIENT_ID": "spoof"},
			{"X.OAuth.User.Id": "admin"},
		} {
			r := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/orders", api), tok, spoof)
			if r.status != 200 {
				t.Fatalf("guard refused a good token: %d %v", r.status, r.body)
			}
			h, _ := up.seen()
			for name, values := range h {
				cgi := strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
				if !strings.HasPrefix(cgi, "X_OAUTH_") {
					continue
				}
				for _, v := range values {
					if v == "admin" || v == "spoof" || v == "*" {
						t.Errorf("spoofed %s: %q reached the upstream", name, v)
					}
				}
			}
			if h.Get("X-Oauth-Client-Id") != "svc" {
				t.Errorf("X-OAuth-Client-Id %q, want svc", h.Get("X-Oauth-Client-Id"))
			}
		}
	})
}
