package authserver

import (
	"hash/maphash"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// TokenRateLimit bounds requests to the token endpoint, as Passport's throttle
// middleware does on its token route: per client address before anything else, and per
// client once the client has authenticated (so a stranger presenting a client's id with
// wrong secrets spends its address's allowance, not the client's). Counted in fixed
// windows in this process: with several nodes, each counts its own requests.
type TokenRateLimit struct {
	// PerClient is how many token requests an authenticated client may make per window;
	// 0: no limit.
	PerClient int
	// PerIP is how many token requests one address (an IPv6 /64) may make per window;
	// 0: no limit.
	PerIP int
	// Window is the length of a counting window.
	Window time.Duration
}

// DefaultTokenRateLimit is the limit when the configuration sets none: ample for clients
// that keep their tokens until they expire, a wall for a loop that does not.
var DefaultTokenRateLimit = TokenRateLimit{PerClient: 1200, PerIP: 1200, Window: time.Minute}

// counterSlots is the width of each row of a windowCounter: 2 rows of 65,536 counters,
// 512 KiB, whatever the number of keys.
const counterSlots = 1 << 16

// windowCounter counts requests per key in fixed windows with a count-min sketch: each
// key adds one to a counter in each of two rows and its count is the smaller of the two,
// so memory stays fixed however many keys an attacker makes up, and a key's count is
// never under its true count (other keys can only add to it, in both rows at once only
// by a double collision).
type windowCounter struct {
	limit  uint32
	window time.Duration
	seed   maphash.Seed
	mu     sync.Mutex   // serialises the reset at a window's start
	epoch  atomic.Int64 // the current window's number since the Unix epoch
	rows   [2][counterSlots]atomic.Uint32
}

func newWindowCounter(limit int, window time.Duration) *windowCounter {
	if limit <= 0 {
		return nil
	}
	return &windowCounter{limit: uint32(limit), window: window, seed: maphash.MakeSeed()}
}

// take counts one request of key at now and reports whether it is within the limit;
// if not, also how long until the window ends. A nil counter allows everything.
func (c *windowCounter) take(key string, now time.Time) (bool, time.Duration) {
	if c == nil {
		return true, 0
	}
	epoch := now.UnixNano() / int64(c.window)
	if c.epoch.Load() != epoch {
		c.mu.Lock()
		if c.epoch.Load() != epoch {
			for r := range c.rows {
				for i := range c.rows[r] {
					c.rows[r][i].Store(0)
				}
			}
			c.epoch.Store(epoch)
		}
		c.mu.Unlock()
	}
	h := maphash.String(c.seed, key)
	n := min(c.rows[0][h%counterSlots].Add(1), c.rows[1][(h>>32)%counterSlots].Add(1))
	if n <= c.limit {
		return true, 0
	}
	return false, time.Duration((epoch+1)*int64(c.window) - now.UnixNano())
}

// tokenRateLimiter applies a TokenRateLimit.
type tokenRateLimiter struct {
	perClient, perIP *windowCounter
}

func newTokenRateLimiter(l TokenRateLimit) *tokenRateLimiter {
	if l.Window <= 0 {
		l.Window = DefaultTokenRateLimit.Window
	}
	return &tokenRateLimiter{perClient: newWindowCounter(l.PerClient, l.Window), perIP: newWindowCounter(l.PerIP, l.Window)}
}

// errTooManyTokenRequests is the 429 of a request over a limit. temporarily_unavailable
// is RFC 6749's code for "try again later"; Retry-After says when.
func errTooManyTokenRequests(what string, wait time.Duration) *Error {
	return &Error{Code: "temporarily_unavailable", Description: "too many token requests " + what + "; retry later",
		Status: http.StatusTooManyRequests, retryAfter: max(1, int((wait+time.Second-1)/time.Second))}
}

// checkTokenAddress counts a token request of r's address.
func (s *Server) checkTokenAddress(r *http.Request) *Error {
	if ok, wait := s.tokenLimit.perIP.take(ipKey(s.clientIP(r)), s.now()); !ok {
		return errTooManyTokenRequests("from this address", wait)
	}
	return nil
}

// checkTokenClient counts a token request of an authenticated client.
func (s *Server) checkTokenClient(clientID string) *Error {
	if ok, wait := s.tokenLimit.perClient.take(clientID, s.now()); !ok {
		return errTooManyTokenRequests("for this client", wait)
	}
	return nil
}
