package authserver

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Password guessing limits (OWASP ASVS 2.2.1), as Laravel's login throttle: after
// maxFailures wrong passwords for one username from one address within failureWindow,
// that username is refused from that address, without its password being checked,
// until the window ends. A success clears the count. The count is kept per node: with
// several nodes, a guesser spread over all of them gets maxFailures on each.
const (
	maxFailures   = 5
	failureWindow = time.Minute
	// maxThrottled bounds the remembered failures; when full, finished windows are
	// dropped, and if none are, everything is (the price of a flood is a fresh count).
	maxThrottled = 100_000
)

// throttledError is returned by authenticateUser while a username is locked out.
type throttledError struct{ retryAfter time.Duration }

func (e *throttledError) Error() string { return "too many failed attempts" }

// retryAfterSeconds is the Retry-After value of a lock-out, at least 1.
func (e *throttledError) retryAfterSeconds() int {
	return max(1, int((e.retryAfter+time.Second-1)/time.Second))
}

// loginThrottle counts password attempts per username and client address.
type loginThrottle struct {
	mu      sync.Mutex
	entries map[string]*failures
}

type failures struct {
	count int       // attempts not (yet) followed by a success
	until time.Time // end of the window opened by the first of them
}

// throttleKey names a username (as the provider compares it, roughly) tried from the
// request's peer address.
func throttleKey(r *http.Request, provider, username string) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return provider + "\x00" + strings.ToLower(strings.TrimSpace(username)) + "\x00" + host
}

// begin counts an attempt for key before its password is checked, so guesses sent all
// at once cannot slip in while the first ones are still being checked; a success then
// clears the count (succeeded) and an attempt that could not be checked is taken back
// (undo). It returns how long key must wait when it is locked out, and then counts
// nothing.
func (l *loginThrottle) begin(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.entries[key]; ok && now.Before(f.until) {
		if f.count >= maxFailures {
			return f.until.Sub(now)
		}
		f.count++
		return 0
	}
	if l.entries == nil {
		l.entries = make(map[string]*failures)
	}
	if len(l.entries) >= maxThrottled {
		for k, f := range l.entries {
			if !now.Before(f.until) {
				delete(l.entries, k)
			}
		}
		if len(l.entries) >= maxThrottled {
			l.entries = make(map[string]*failures)
		}
	}
	l.entries[key] = &failures{count: 1, until: now.Add(failureWindow)}
	return 0
}

// undo takes back an attempt begin counted whose password could not be checked (the
// store failed), so an outage does not lock users out.
func (l *loginThrottle) undo(key string) {
	l.mu.Lock()
	if f, ok := l.entries[key]; ok && f.count > 0 {
		f.count--
	}
	l.mu.Unlock()
}

// succeeded clears key's count.
func (l *loginThrottle) succeeded(key string) {
	l.mu.Lock()
	delete(l.entries, key)
	l.mu.Unlock()
}
