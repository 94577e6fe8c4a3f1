package authserver_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// The token endpoint counts requests per address before anything else and per client
// once it has authenticated: over either limit, 429 temporarily_unavailable with a
// Retry-After up to the window's end; wrong secrets spend the address's allowance, not
// the client's; a new window starts afresh.
func TestTokenEndpointRateLimits(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC).UnixNano())
	eachStoreWith(t, func(c *authserver.Config) {
		c.TokenRateLimit = &authserver.TokenRateLimit{PerClient: 3, PerIP: 6, Window: time.Minute}
		c.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-IP") }
		c.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	}, func(t *testing.T, f *fixture) {
		clock.Add(int64(time.Hour)) // a fresh window for each store
		request := func(ip, client, secret string) tokenReply {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathToken, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Test-IP", ip)
			req.SetBasicAuth(client, secret)
			return f.do(req)
		}
		limited := func(what string, r tokenReply, wantMax int) {
			t.Helper()
			retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if r.Status != http.StatusTooManyRequests || r.Body["error"] != "temporarily_unavailable" || err != nil || retry < 1 || retry > wantMax {
				t.Fatalf("%s: %d %v Retry-After %q, want 429 within %d s", what, r.Status, r.Body, r.Header.Get("Retry-After"), wantMax)
			}
		}
		// Wrong secrets from one address: 401s until the address is over its limit.
		for i := range 6 {
			if r := request("203.0.113.9", "svc", "wrong-secret-0123456789"); r.Status != http.StatusUnauthorized {
				t.Fatalf("wrong secret #%d: %d %v", i+1, r.Status, r.Body)
			}
		}
		limited("the 7th request of the address", request("203.0.113.9", "svc", ccSecret), 60)
		// ... which did not spend svc's allowance: 3 from elsewhere, then the client's limit.
		for i := range 3 {
			if r := request("198.51.100.1", "svc", ccSecret); r.Status != http.StatusOK {
				t.Fatalf("svc #%d from another address: %d %v", i+1, r.Status, r.Body)
			}
		}
		clock.Add(int64(15 * time.Second))
		limited("svc's 4th", request("198.51.100.2", "svc", ccSecret), 45)
		// Another client from that address is not limited by svc's count.
		if r := request("198.51.100.1", "rs", rsSecret); r.Status != http.StatusOK {
			t.Fatalf("another client: %d %v", r.Status, r.Body)
		}
		// IPv6 addresses count per /64.
		for i := range 6 {
			request("2001:db8:1:2::"+strconv.Itoa(i+1), "nobody", "x")
		}
		limited("another address of the same /64", request("2001:db8:1:2:ffff::1", "rs", rsSecret), 45)
		// The next window.
		clock.Add(int64(45 * time.Second))
		if r := request("198.51.100.2", "svc", ccSecret); r.Status != http.StatusOK {
			t.Fatalf("svc in the next window: %d %v", r.Status, r.Body)
		}
		if r := request("203.0.113.9", "svc", ccSecret); r.Status != http.StatusOK {
			t.Fatalf("the address in the next window: %d %v", r.Status, r.Body)
		}
	})
}
