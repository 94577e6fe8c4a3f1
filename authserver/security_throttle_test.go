package authserver_test

import (
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// Online password guessing (OWASP ASVS 2.2.1): after five wrong passwords for one
// username from one address within a minute, the password grant and the login form
// refuse that username from that address, even with the right password, with 429 and
// Retry-After, until the minute is over. Other users, and the same user from elsewhere,
// are not affected; a success clears the count.
func TestPasswordGuessingIsThrottled(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func(cfg *authserver.Config) {
		cfg.Now = func() time.Time { return time.Unix(0, now.Load()) }
	}
	eachStoreWith(t, clock, func(t *testing.T, f *fixture) {
		now.Store(time.Now().UnixNano())
		pw := func(password string) tokenReply {
			return f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {password}}, "app", pwSecret)
		}
		for i := 0; i < 5; i++ {
			if r := pw("wrong-" + strconv.Itoa(i)); r.Status != 400 || r.Body["error"] != "invalid_grant" {
				t.Fatalf("wrong password %d: %d %v", i, r.Status, r.Body)
			}
		}
		r := pw(userPass)
		if r.Status != http.StatusTooManyRequests || r.Body["access_token"] != nil || r.Header.Get("Retry-After") == "" {
			t.Fatalf("the right password after five wrong ones: %d %v (Retry-After %q), want 429", r.Status, r.Body, r.Header.Get("Retry-After"))
		}
		if r.Body["error"] != "invalid_grant" {
			t.Errorf("throttled answer %v, want an RFC 6749 error", r.Body)
		}

		// The login form is throttled the same way.
		s := browserSite(t, f, clock)
		b := s.browser(t)
		form := b.get(authserver.PathLogin)
		for i := 0; i < 5; i++ {
			b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {userEmail}, "password": {"nope"}}, nil)
		}
		p := b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {userEmail}, "password": {userPass}}, nil)
		if p.status != http.StatusTooManyRequests || b.sessionCookie() != "" || p.header.Get("Retry-After") == "" {
			t.Fatalf("login after five wrong passwords: %d, session %q", p.status, b.sessionCookie())
		}
		wantPageHeaders(t, "throttled login page", p)

		// Another username is not affected (it is unknown, so refused as usual).
		if r := f.post(url.Values{"grant_type": {"password"}, "username": {"bob@example.com"}, "password": {"x"}}, "app", pwSecret); r.Status != 400 {
			t.Fatalf("another username: %d %v", r.Status, r.Body)
		}

		// A minute later the user may sign in, and a success clears the count.
		now.Add(int64(61 * time.Second))
		if r := pw(userPass); r.Status != 200 {
			t.Fatalf("after the minute: %d %v", r.Status, r.Body)
		}
		for i := 0; i < 4; i++ {
			pw("wrong")
		}
		if r := pw(userPass); r.Status != 200 {
			t.Fatalf("four wrong passwords after a success: %d %v", r.Status, r.Body)
		}
	})
}

// Guesses sent all at once cannot slip past the limit while the first ones are still
// being checked: of twenty concurrent wrong passwords, at most five are checked.
func TestConcurrentPasswordGuessesAreThrottledToo(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		var wg sync.WaitGroup
		var checked, throttled atomic.Int32
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {"guess-" + strconv.Itoa(i)}}, "app", pwSecret)
				switch r.Status {
				case http.StatusBadRequest:
					checked.Add(1)
				case http.StatusTooManyRequests:
					throttled.Add(1)
				default:
					t.Errorf("guess %d: %d %v", i, r.Status, r.Body)
				}
			}(i)
		}
		wg.Wait()
		if checked.Load() > 5 || checked.Load()+throttled.Load() != 20 {
			t.Fatalf("%d concurrent guesses checked, %d throttled; want at most 5 checked", checked.Load(), throttled.Load())
		}
	})
}
