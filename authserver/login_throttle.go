package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// LoginThrottle limits password guessing without letting a guesser lock a user out.
// Failed logins are counted in fixed windows kept in the store, so the limits hold across
// every node:
//   - per username and address (as Laravel's ThrottlesLogins does): PerUsername failures
//     lock that address out of that username until the window ends;
//   - per address, whatever the usernames: PerIP failures lock the address out;
//   - per username across addresses: once PerUsername different addresses have failed
//     for it in a window (a guessing attack spread over many addresses), addresses the
//     user has not logged in from in the last 30 days are refused for it too, while
//     addresses it has logged in from keep their own per-address allowance.
//
// So one address guessing a password locks only itself out, and the owner keeps
// logging in from anywhere; a distributed attack locks out only new addresses, and the
// owner's usual ones keep working. A successful login resets the username's counts.
type LoginThrottle struct {
	// PerUsername is how many failed logins one username may have per window from one
	// address, and how many addresses may fail for it before unknown addresses are
	// refused. Default: 10. Negative: no limit.
	PerUsername int
	// PerIP is how many failed logins one client address (an IPv6 /64) may have per
	// window, whatever the usernames. Default: 50. Negative: no limit.
	PerIP int
	// Window is the length of a counting window. Default: 15 minutes.
	Window time.Duration
}

// knownAddressTTL is how long a successful login makes its address known for the user.
const knownAddressTTL = 30 * 24 * time.Hour

// withDefaults fills the zero fields.
func (t LoginThrottle) withDefaults() LoginThrottle {
	if t.PerUsername == 0 {
		t.PerUsername = 10
	}
	if t.PerIP == 0 {
		t.PerIP = 50
	}
	if t.Window <= 0 {
		t.Window = 15 * time.Minute
	}
	return t
}

// usernameKey is the store key counting the addresses that failed for a username: a
// digest, so the store never holds what people typed as a username (often a password
// typed in the wrong box).
func usernameKey(provider, username string) string {
	return "user:" + userDigest(provider, username)
}

// pairKey counts a username's failures from one address.
func pairKey(provider, username, ip string) string {
	return "pair:" + userDigest(provider, username) + ":" + ipKey(ip)[len("ip:"):]
}

// knownKey marks an address the user logged in from (a window of knownAddressTTL).
func knownKey(provider, username, ip string) string {
	return "known:" + userDigest(provider, username) + ":" + ipKey(ip)[len("ip:"):]
}

func userDigest(provider, username string) string {
	sum := sha256.Sum256([]byte(provider + "\x00" + strings.ToLower(strings.TrimSpace(username))))
	return hex.EncodeToString(sum[:])
}

// ipKey is the store key counting a client address's failures. IPv6 clients are counted
// per /64, the block one subscriber usually holds, or each address would get its own limit.
func ipKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err == nil {
		addr = addr.Unmap()
		if addr.Is6() {
			p, _ := addr.Prefix(64)
			ip = p.String()
		} else {
			ip = addr.String()
		}
	}
	sum := sha256.Sum256([]byte(ip))
	return "ip:" + hex.EncodeToString(sum[:])
}

// clientIP is the address logins are throttled by: Config.ClientIP's answer (Caddy's
// client IP, which honours trusted_proxies), else the connection's peer.
func (s *Server) clientIP(r *http.Request) string {
	if s.cfg.ClientIP != nil {
		if ip := s.cfg.ClientIP(r); ip != "" {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// allowLogin reports whether a login for username of provider from ip may be checked
// now; when not, retryAfter is how long until the window that blocks it ends. The login
// page uses it as the password grant does, before verifying any password.
func (s *Server) allowLogin(ctx context.Context, provider, username, ip string) (ok bool, retryAfter time.Duration, err error) {
	lim := s.throttle
	now := s.now()
	block := func(key string, limit int) (bool, error) {
		if limit < 0 {
			return false, nil
		}
		n, until, err := s.throttleStore.LoginFailures(ctx, key, now)
		if err != nil {
			return false, fmt.Errorf("reading login failures: %w", err)
		}
		if n >= limit {
			retryAfter = max(retryAfter, until.Sub(now))
			return true, nil
		}
		return false, nil
	}
	for _, c := range []struct {
		key   string
		limit int
	}{{pairKey(provider, username, ip), lim.PerUsername}, {ipKey(ip), lim.PerIP}} {
		if _, err := block(c.key, c.limit); err != nil {
			return false, 0, err
		}
	}
	if retryAfter == 0 {
		// Many addresses failing for the username: only its known addresses go on.
		spread, err := block(usernameKey(provider, username), lim.PerUsername)
		if err != nil {
			return false, 0, err
		}
		if spread {
			known, _, err := s.throttleStore.LoginFailures(ctx, knownKey(provider, username, ip), now)
			if err != nil {
				return false, 0, fmt.Errorf("reading known addresses: %w", err)
			}
			if known > 0 {
				retryAfter = 0
			}
		}
	}
	if retryAfter > 0 {
		return false, retryAfter, nil
	}
	return true, 0, nil
}

// recordLoginFailure counts a failed login against the username from the address and
// against the address; the first failure of an address for the username also counts one
// more address against the username. A store error is logged, not returned: the login has
// failed either way.
func (s *Server) recordLoginFailure(ctx context.Context, provider, username, ip string) {
	now, window := s.now(), s.throttle.Window
	n, _, err := s.throttleStore.RecordLoginFailure(ctx, pairKey(provider, username, ip), now, window)
	if err == nil && n == 1 {
		_, _, err = s.throttleStore.RecordLoginFailure(ctx, usernameKey(provider, username), now, window)
	}
	if err == nil {
		_, _, err = s.throttleStore.RecordLoginFailure(ctx, ipKey(ip), now, window)
	}
	if err != nil {
		s.log.Error("recording a failed login", zap.String("provider", provider), zap.Error(err))
	}
}

// loginSucceeded forgets the username's failures, from this address and across addresses,
// and marks the address known for the user. The address's own count stays: one success
// from an address guessing many usernames must not reset it.
func (s *Server) loginSucceeded(ctx context.Context, provider, username, ip string) {
	err := s.throttleStore.ClearLoginFailures(ctx, usernameKey(provider, username))
	if err == nil {
		err = s.throttleStore.ClearLoginFailures(ctx, pairKey(provider, username, ip))
	}
	if err == nil {
		// The window store doubles as the record of known addresses: a "failure" count in
		// a window of knownAddressTTL that starts at this login.
		key := knownKey(provider, username, ip)
		if err = s.throttleStore.ClearLoginFailures(ctx, key); err == nil {
			_, _, err = s.throttleStore.RecordLoginFailure(ctx, key, s.now(), knownAddressTTL)
		}
	}
	if err != nil {
		s.log.Error("recording a successful login", zap.String("provider", provider), zap.Error(err))
	}
}

// errLoginThrottled refuses a login while a throttling window is open. The status is
// 429 with Retry-After, so clients can tell it from a wrong password; the code stays
// invalid_grant, the RFC 6749 code for credentials that cannot be used.
func errLoginThrottled(retryAfter time.Duration) *Error {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	return &Error{Code: "invalid_grant", Description: fmt.Sprintf("too many failed logins; retry in %d seconds", secs),
		Status: http.StatusTooManyRequests, retryAfter: secs}
}

// authenticateUser checks a username and password with a provider, throttled: the one
// path by which the password grant (and the login page) verifies a password.
func (s *Server) authenticateUser(r *http.Request, providerName string, provider UserProvider, username, password string) (string, *Error) {
	ctx := r.Context()
	if !storableText(username) {
		// No user can have this name, and PostgreSQL would refuse it as a parameter (an
		// outage, not a refusal): refuse it like an unknown user, counting nothing.
		return "", errInvalidGrant("the user credentials were incorrect")
	}
	ip := s.clientIP(r)
	// One password check at a time per username on this node, from the throttle check to
	// the failure being recorded: otherwise guesses sent all at once would all pass the
	// check before the first failure is counted. (Across nodes, the slip is at most one
	// guess per node.)
	unlock := s.usernameLocks.lock(usernameKey(providerName, username))
	defer unlock()
	ok, retryAfter, err := s.allowLogin(ctx, providerName, username, ip)
	if err != nil {
		return "", errUnavailable("login throttle", err)
	}
	if !ok {
		return "", errLoginThrottled(retryAfter)
	}
	userID, err := provider.Authenticate(ctx, username, password)
	if errors.Is(err, ErrInvalidCredentials) {
		s.recordLoginFailure(ctx, providerName, username, ip)
		return "", errInvalidGrant("the user credentials were incorrect")
	}
	if err != nil {
		return "", errUnavailable("authenticating user", err, zap.String("provider", providerName))
	}
	s.loginSucceeded(ctx, providerName, username, ip)
	return userID, nil
}

// stripedLocks serialises work per key with a fixed set of mutexes: bounded memory
// whatever the keys, at the price of an occasional wait for an unrelated key that
// shares a stripe.
type stripedLocks struct {
	seed    maphash.Seed
	stripes [256]sync.Mutex
}

func newStripedLocks() *stripedLocks { return &stripedLocks{seed: maphash.MakeSeed()} }

// lock locks key's stripe and returns the unlock function.
func (l *stripedLocks) lock(key string) func() {
	m := &l.stripes[maphash.String(l.seed, key)%uint64(len(l.stripes))]
	m.Lock()
	return m.Unlock
}
