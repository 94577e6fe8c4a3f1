package authserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/validator"
)

const (
	// clientKeysTTL is how long a client's fetched jwks_uri is used before it is fetched
	// again, so a key the client removed stops verifying soon; an unknown kid refetches
	// sooner (at most once per clientKeysMissGap).
	clientKeysTTL = 5 * time.Minute
	// clientKeysMissGap bounds refetches caused by unknown kids, so assertions naming
	// made-up kids cannot turn the server into a flooder of the client's host.
	clientKeysMissGap = 10 * time.Second
	// clientKeysFetchTimeout bounds one jwks_uri fetch; a request authenticating by
	// assertion waits for it.
	clientKeysFetchTimeout = 5 * time.Second
	// maxClientKeySets bounds the cache; reaching it empties it (clients are few).
	maxClientKeySets = 1024
)

// clientKeyCache holds the parsed key sets of private_key_jwt clients: inline jwks by
// their digest (parsed once, not per request), jwks_uri documents by URI for
// clientKeysTTL. The keys and their algorithm pinning are validator.KeySource's.
type clientKeyCache struct {
	client *http.Client
	flight singleflight.Group
	mu     sync.Mutex
	sets   map[string]clientKeySet
}

type clientKeySet struct {
	src   *validator.KeySource
	err   error     // a failed fetch, remembered until until so it is not retried per request
	until time.Time // zero: inline, never stale
}

func newClientKeyCache() *clientKeyCache {
	return &clientKeyCache{client: &http.Client{
		Timeout: clientKeysFetchTimeout,
		// A redirect could lead from the registered https URI to plain http or elsewhere:
		// the registered URI must serve the keys itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// source returns the key set of client c.
func (k *clientKeyCache) source(ctx context.Context, c *store.Client) (*validator.KeySource, error) {
	var key string
	switch {
	case c.JWKS != "":
		sum := sha256.Sum256([]byte(c.JWKS))
		key = fmt.Sprintf("inline:%x", sum)
	case c.JWKSURI != "":
		if err := CheckJWKSURI(c.JWKSURI); err != nil {
			return nil, err
		}
		key = "uri:" + c.JWKSURI
	default:
		return nil, errors.New("the client has neither jwks nor jwks_uri")
	}
	now := time.Now()
	k.mu.Lock()
	e, ok := k.sets[key]
	k.mu.Unlock()
	if ok && (e.until.IsZero() || now.Before(e.until)) {
		return e.src, e.err
	}
	ch := k.flight.DoChan(key, func() (any, error) {
		var src *validator.KeySource
		var err error
		var until time.Time
		if c.JWKS != "" {
			src, err = validator.NewInlineKeySource([]byte(c.JWKS))
		} else {
			// Not the caller's context: the fetch is shared by concurrent callers.
			fctx, cancel := context.WithTimeout(context.Background(), clientKeysFetchTimeout)
			defer cancel()
			src, err = validator.NewKeySourceContext(fctx, c.JWKSURI, validator.KeySourceOptions{
				HTTPClient:         k.client,
				MinRefetchInterval: clientKeysMissGap,
				RefreshInterval:    -1, // no background work per client: the TTL replaces it
			})
			until = time.Now().Add(clientKeysTTL)
		}
		entry := clientKeySet{src: src, until: until}
		if err != nil {
			// Assertions naming the client (its id is all they need) must not make a
			// fetch each: a failure is remembered as long as a miss holds back a refetch.
			// An invalid inline set is not cached: NewClient refuses those anyway.
			if c.JWKS != "" {
				return nil, err
			}
			entry = clientKeySet{err: err, until: time.Now().Add(clientKeysMissGap)}
		}
		k.mu.Lock()
		if k.sets == nil || len(k.sets) >= maxClientKeySets {
			k.sets = make(map[string]clientKeySet)
		}
		k.sets[key] = entry
		k.mu.Unlock()
		return src, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*validator.KeySource), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// CheckJWKSURI checks a client's jwks_uri: an absolute https URL, or http on a loopback
// host (for development and tests), without credentials or a fragment.
func CheckJWKSURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || !u.IsAbs() {
		return fmt.Errorf("jwks_uri %q: must be an absolute URL", raw)
	}
	if u.User != nil || u.Fragment != "" {
		return fmt.Errorf("jwks_uri %q: must have no user info or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("jwks_uri %q: must be https (http only on a loopback host)", raw)
	default:
		return fmt.Errorf("jwks_uri %q: must be https", raw)
	}
}
