package authserver_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// slowUsers is the real built-in provider with the latency of a production password hash
// (bcrypt cost 10-12 takes 50-250 ms), so concurrent guesses overlap for sure.
type slowUsers struct{ *countingUsers }

func (s slowUsers) Authenticate(ctx context.Context, username, password string) (string, error) {
	time.Sleep(40 * time.Millisecond)
	return s.countingUsers.Authenticate(ctx, username, password)
}

// Guesses sent all at once must not slip past the per-username limit: each one has to
// see the failures of those before it, so at most the limit of passwords is checked.
func TestConcurrentGuessesDoNotSlipPastTheUsernameLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		const limit, guesses = 3, 16
		users := &countingUsers{UserProvider: authserver.NewBuiltinUsers(f.st)}
		f.reconfigure(func(c *authserver.Config) {
			c.LoginThrottle = authserver.LoginThrottle{PerUsername: limit, PerIP: -1}
			c.Providers = map[string]authserver.UserProvider{authserver.DefaultProvider: slowUsers{users}}
			c.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Client-IP") }
		})
		var wg sync.WaitGroup
		statuses := make([]int, guesses)
		for i := range guesses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = f.login(userEmail, fmt.Sprintf("wrong guess %d", i), fmt.Sprintf("198.51.100.%d", i+1)).Status
			}()
		}
		wg.Wait()
		checked := 0
		for _, st := range statuses {
			switch st {
			case http.StatusBadRequest:
				checked++
			case http.StatusTooManyRequests:
			default:
				t.Errorf("a guess got %d", st)
			}
		}
		if checked > limit || users.calls.Load() > limit {
			t.Fatalf("%d concurrent guesses: %d refused as wrong, %d passwords checked; the limit is %d", guesses, checked, users.calls.Load(), limit)
		}
	})
}
