package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// passwordGrantFrom posts a password grant for the app client with X-Forwarded-For set.
func passwordGrantFrom(t *testing.T, tokenURL, forwardedFor, username, password string) int {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", forwardedFor)
	req.SetBasicAuth("app", appSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Login throttling counts per client IP as Caddy determines it: X-Forwarded-For counts
// only from a trusted proxy, so a caller cannot dodge the limit by inventing addresses,
// and clients behind a trusted proxy do not share one bucket.
func TestLoginThrottleUsesCaddysClientIP(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprintf("trusted_proxies=%v", trusted), func(t *testing.T) {
			eachStore(t, func(t *testing.T, sc storeCase) {
				port := freePort(t)
				global := "admin off\n\tauto_https off\n\tpersist_config off"
				if trusted {
					global += "\n\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}"
				}
				startCaddy(t, fmt.Sprintf(`{
	%s
}
http://127.0.0.1:%d {
	oauth_server {
		%s
		login_throttle {
			per_username off
			per_ip 3
			window 1m
		}
		client app {
			secret %s
			grants password
		}
	}
}`, global, port, sc.directive(), appSecret))
				tokenURL := fmt.Sprintf("http://127.0.0.1:%d/oauth/token", port)
				for i, ip := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
					want := 400
					if trusted {
						ip = "203.0.113.9" // one client behind the proxy
					}
					if got := passwordGrantFrom(t, tokenURL, ip, fmt.Sprintf("u%d@example.com", i), "guess"); got != want {
						t.Fatalf("failure %d: %d", i+1, got)
					}
				}
				if trusted {
					if got := passwordGrantFrom(t, tokenURL, "203.0.113.9", "u9@example.com", "guess"); got != 429 {
						t.Fatalf("the same forwarded client after 3 failures: %d", got)
					}
					if got := passwordGrantFrom(t, tokenURL, "203.0.113.10", "u9@example.com", "guess"); got != 400 {
						t.Fatalf("another client behind the proxy: %d, want its own bucket", got)
					}
				} else if got := passwordGrantFrom(t, tokenURL, "198.51.100.4", "u9@example.com", "guess"); got != 429 {
					t.Fatalf("an invented X-Forwarded-For dodged the limit: %d", got)
				}
			})
		})
	}
}
