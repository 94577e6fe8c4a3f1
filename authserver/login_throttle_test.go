package authserver_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// countingUsers is the real built-in provider, counting how often a password is checked.
type countingUsers struct {
	authserver.UserProvider
	calls atomic.Int64
}

func (c *countingUsers) Authenticate(ctx context.Context, username, password string) (string, error) {
	c.calls.Add(1)
	return c.UserProvider.Authenticate(ctx, username, password)
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// throttled reconfigures f with limits, a hand-moved clock, a counting provider, and the
// client IP taken from the X-Test-Client-IP header (as Caddy's client IP would be).
func throttled(f *fixture, lim authserver.LoginThrottle) (*testClock, *countingUsers) {
	clock := &testClock{t: time.Now().UTC()}
	users := &countingUsers{UserProvider: authserver.NewBuiltinUsers(f.st)}
	f.reconfigure(func(c *authserver.Config) {
		c.LoginThrottle = lim
		c.Now = clock.now
		c.Providers = map[string]authserver.UserProvider{authserver.DefaultProvider: users}
		c.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Client-IP") }
	})
	return clock, users
}

func (f *fixture) login(username, password, ip string) tokenReply {
	f.t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Test-Client-IP", ip)
	req.SetBasicAuth("app", pwSecret)
	return f.do(req)
}

func TestPasswordGrantThrottlesAUsernameAfterRepeatedFailures(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		clock, users := throttled(f, authserver.LoginThrottle{PerUsername: 3, PerIP: -1, Window: time.Minute})
		for i := range 3 {
			// From a new address each time: the username's own count must stop it.
			if r := f.login(userEmail, "wrong", "192.0.2."+string(rune('1'+i))); r.Status != 400 || r.Body["error"] != "invalid_grant" {
				t.Fatalf("failure %d: %d %v", i+1, r.Status, r.Body)
			}
		}
		checked := users.calls.Load()
		// Locked: even the right password is refused, and not checked (no oracle).
		r := f.login(strings.ToUpper(userEmail), userPass, "198.51.100.7")
		if r.Status != 429 || r.Body["error"] != "invalid_grant" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("locked username: %d %v %v", r.Status, r.Header, r.Body)
		}
		if users.calls.Load() != checked {
			t.Fatal("a throttled login still checked the password")
		}
		// Another username is unaffected.
		if r := f.login("someone@example.com", "x", "198.51.100.7"); r.Status != 400 {
			t.Fatalf("other username: %d %v", r.Status, r.Body)
		}
		clock.advance(time.Minute)
		if r := f.login(userEmail, userPass, "198.51.100.7"); r.Status != 200 {
			t.Fatalf("after the window: %d %v", r.Status, r.Body)
		}
	})
}

func TestPasswordGrantThrottlesAClientIPAcrossUsernames(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		_, _ = throttled(f, authserver.LoginThrottle{PerUsername: -1, PerIP: 3, Window: time.Minute})
		for i, u := range []string{"a@example.com", "b@example.com", "c@example.com"} {
			if r := f.login(u, "guess", "2001:db8:1:2::10"); r.Status != 400 {
				t.Fatalf("failure %d: %d %v", i+1, r.Status, r.Body)
			}
		}
		// The same /64 is the same client; the right password does not get through.
		if r := f.login(userEmail, userPass, "2001:db8:1:2:ffff::1"); r.Status != 429 {
			t.Fatalf("same /64: %d %v", r.Status, r.Body)
		}
		// Another address logs in.
		if r := f.login(userEmail, userPass, "2001:db8:1:3::10"); r.Status != 200 {
			t.Fatalf("other /64: %d %v", r.Status, r.Body)
		}
	})
}

func TestSuccessfulLoginResetsTheUsernameCount(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		_, _ = throttled(f, authserver.LoginThrottle{PerUsername: 3, PerIP: -1, Window: time.Minute})
		for range 2 {
			f.login(userEmail, "typo", "192.0.2.1")
		}
		if r := f.login(userEmail, userPass, "192.0.2.1"); r.Status != 200 {
			t.Fatalf("login: %d %v", r.Status, r.Body)
		}
		for range 2 {
			f.login(userEmail, "typo", "192.0.2.1")
		}
		if r := f.login(userEmail, userPass, "192.0.2.1"); r.Status != 200 {
			t.Fatalf("two typos after a success locked the user: %d %v", r.Status, r.Body)
		}
	})
}

// Without any configuration, a username is locked after 10 failures.
func TestLoginThrottleIsOnByDefault(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		for i := range 10 {
			if r := f.login(userEmail, "wrong", "192.0.2.9"); r.Status != 400 {
				t.Fatalf("failure %d: %d", i+1, r.Status)
			}
		}
		if r := f.login(userEmail, userPass, "192.0.2.9"); r.Status != 429 {
			t.Fatalf("11th attempt: %d %v", r.Status, r.Body)
		}
	})
}

// Security probe finding 5: guesses from one address lock only that address out of the
// username; the owner logs in from another address, new to the server or not. A guessing
// attack spread over many addresses locks out only addresses the user has not logged in
// from; the user's known address keeps working, and its success resets the username.
func TestAGuesserCannotLockTheOwnerOut(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		clock, users := throttled(f, authserver.LoginThrottle{PerUsername: 3, PerIP: -1, Window: time.Minute})
		const home, attacker = "192.0.2.50", "203.0.113.66"
		if r := f.login(userEmail, userPass, home); r.Status != 200 { // home becomes known
			t.Fatalf("first login: %d %v", r.Status, r.Body)
		}
		for i := range 20 {
			want := 400
			if i >= 3 {
				want = 429
			}
			if r := f.login(userEmail, "guess", attacker); r.Status != want {
				t.Fatalf("guess %d from one address: %d, want %d", i+1, r.Status, want)
			}
		}
		checked := users.calls.Load()
		if r := f.login(userEmail, userPass, attacker); r.Status != 429 || users.calls.Load() != checked {
			t.Fatalf("the guessing address with the right password: %d", r.Status)
		}
		// The owner, from an address never seen before and from home: both log in.
		for _, ip := range []string{"198.51.100.20", home} {
			if r := f.login(userEmail, userPass, ip); r.Status != 200 {
				t.Fatalf("owner at %s after one address guessed: %d %v", ip, r.Status, r.Body)
			}
		}

		// A spread attack: three addresses fail once each.
		for _, ip := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
			if r := f.login(userEmail, "guess", ip); r.Status != 400 {
				t.Fatalf("spread guess from %s: %d", ip, r.Status)
			}
		}
		// New addresses are refused for this username, without a password check...
		checked = users.calls.Load()
		if r := f.login(userEmail, userPass, "203.0.113.4"); r.Status != 429 || users.calls.Load() != checked {
			t.Fatalf("new address during a spread attack: %d", r.Status)
		}
		// ...other usernames are not...
		if r := f.login("someone@example.com", "x", "203.0.113.4"); r.Status != 400 {
			t.Fatalf("other username: %d", r.Status)
		}
		// ...and the owner at a known address logs in, which resets the username.
		for _, ip := range []string{home, "198.51.100.20"} {
			if r := f.login(userEmail, userPass, ip); r.Status != 200 {
				t.Fatalf("owner at known address %s during a spread attack: %d %v", ip, r.Status, r.Body)
			}
		}
		if r := f.login(userEmail, userPass, "203.0.113.4"); r.Status != 200 {
			t.Fatalf("new address after the owner's login reset the username: %d %v", r.Status, r.Body)
		}
		// Known addresses stop being known after 30 days.
		clock.advance(31 * 24 * time.Hour)
		for _, ip := range []string{"203.0.113.7", "203.0.113.8", "203.0.113.9"} {
			f.login(userEmail, "guess", ip)
		}
		if r := f.login(userEmail, userPass, home); r.Status != 429 {
			t.Fatalf("home, 31 days after its last login, during a spread attack: %d", r.Status)
		}
	})
}
