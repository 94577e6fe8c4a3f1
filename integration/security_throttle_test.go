package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Password guessing is throttled per client address as Caddy determines it: behind a
// trusted proxy (trusted_proxies), five wrong passwords from one client lock that client
// out, not every client the proxy forwards. The user may still sign in from elsewhere.
func TestPasswordThrottleCountsTheClientAddressBehindTrustedProxies(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		t.Setenv("IT_APP_SECRET", appSecret)
		runCLI(t, userPass+"\n", "user", "add", "--storage", sc.driver+":"+sc.dsn, "--email", userEmail, "--password-stdin")
		port := freePort(t)
		issuer := fmt.Sprintf("http://127.0.0.1:%d", port)
		startCaddy(t, fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	servers {
		trusted_proxies static 127.0.0.1/32
	}
}

http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		%s
		scope orders:read Read your orders
		client app {
			secret {env.IT_APP_SECRET}
			grants password refresh_token
		}
	}
}`, port, issuer, sc.directive()))
		grant := func(password, client string) int {
			form := url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {password}}
			req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", client)
			req.SetBasicAuth("app", appSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		for i := 0; i < 5; i++ {
			if got := grant("wrong", "203.0.113.7"); got != http.StatusBadRequest {
				t.Fatalf("wrong password %d: %d", i, got)
			}
		}
		if got := grant(userPass, "203.0.113.7"); got != http.StatusTooManyRequests {
			t.Fatalf("the guessing client: %d, want 429", got)
		}
		if got := grant(userPass, "198.51.100.9"); got != http.StatusOK {
			t.Fatalf("another client behind the same proxy: %d, want 200", got)
		}
	})
}
