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

// loginThrottle counts failed password checks per username and client address.
type loginThrottle struct {
	mu      sync.Mutex
	entries map[string]*failures
}

type failures struct {
	count int
	until time.Time // end of the window opened by the first failure
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

// wait returns how long key must wait before its password may be checked again; zero
// when it may be now.
func (l *loginThrottle) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.entries[key]
	if !ok || f.count < maxFailures || !now.Before(f.until) {
		return 0
	}
	return f.until.Sub(now)
}

// failed records a wrong password for key.
func (l *loginThrottle) failed(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.entries[key]; ok && now.Before(f.until) {
		f.count++
		return
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
}

// succeeded clears key's count.
func (l *loginThrottle) succeeded(key string) {
	l.mu.Lock()
	delete(l.entries, key)
	l.mu.Unlock()
}
