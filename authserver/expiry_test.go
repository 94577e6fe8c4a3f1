package authserver_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// clock is a settable time source for the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func clockedSite(t *testing.T, f *fixture) (*site, *clock) {
	c := &clock{t: time.Now().UTC()}
	return browserSite(t, f, func(cfg *authserver.Config) { cfg.Now = c.now }), c
}

func TestAuthorizationCodeExpiresAfterTenMinutes(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, c := clockedSite(t, f)
		code := s.browser(t).codeFor(webQuery())
		c.advance(10*time.Minute + time.Second)
		before := f.dump()
		r := s.exchange("web", webSecret, url.Values{"code": {code}, "redirect_uri": {webCB}})
		if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" {
			t.Fatalf("expired code: %d %v", r.Status, r.Body)
		}
		if f.dump() != before {
			t.Error("the refused exchange changed the store")
		}
	})
}

func TestClientWithoutRefreshGrantGetsNoRefreshToken(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		q := webQuery()
		q.Set("client_id", "own")
		r := s.exchange("own", webSecret, url.Values{"code": {s.browser(t).codeFor(q)}, "redirect_uri": {webCB}})
		if r.Status != http.StatusOK {
			t.Fatalf("exchange: %d %v", r.Status, r.Body)
		}
		if _, has := r.Body["refresh_token"]; has {
			t.Error("a client without the refresh_token grant got a refresh token")
		}
	})
}

// signedIn reports whether the browser's session is still accepted: the authorization
// endpoint shows the consent page rather than sending it to log in.
func (b *browser) signedIn() bool {
	b.t.Helper()
	p := b.authorize(webQuery())
	return p.status == http.StatusOK
}

func TestSessionEndsAfterTheIdleTimeoutAndAfterADayWhateverTheUse(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, c := clockedSite(t, f)
		idle := s.browser(t)
		idle.login("")
		c.advance(2*time.Hour - time.Minute)
		if !idle.signedIn() {
			t.Fatal("the session ended before its idle timeout")
		}
		c.advance(2*time.Hour - time.Minute) // used a moment ago: the timeout moved
		if !idle.signedIn() {
			t.Fatal("using the session did not extend it")
		}
		c.advance(2*time.Hour + time.Second)
		if idle.signedIn() {
			t.Fatal("the session outlived its idle timeout")
		}

		busy := s.browser(t)
		busy.login("")
		for range 23 {
			c.advance(time.Hour)
			if !busy.signedIn() {
				t.Fatal("an active session ended before a day")
			}
		}
		c.advance(time.Hour)
		if busy.signedIn() {
			t.Fatal("an active session outlived a day")
		}
	})
}
