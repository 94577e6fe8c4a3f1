package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/validator"
)

// IntrospectConfig configures the guard's RFC 7662 introspection mode.
type IntrospectConfig struct {
	// URL is the introspection endpoint, e.g. https://auth.example.com/oauth/introspect.
	// Required.
	URL string `json:"url"`

	// ClientID is the guard's client id at the authorization server: a client allowed to
	// introspect (`caddy oauth client --client --introspect`). Required.
	ClientID string `json:"client_id,omitempty"`

	// ClientSecret is that client's secret; use a placeholder such as {env.GUARD_SECRET}
	// rather than writing it in the config. Required.
	ClientSecret string `json:"client_secret,omitempty"`

	// TokenURL, when set, makes the guard get its own access token from this token
	// endpoint by the client_credentials grant and call the endpoint with it as a Bearer
	// token, renewing it before it expires (and when the server rejects it). When empty,
	// the client credentials go in HTTP Basic on every call.
	TokenURL string `json:"token_url,omitempty"`

	// CacheTTL is the longest an active answer is trusted; never past the token's exp.
	// A token revoked at the server keeps passing here for at most this long unless the
	// guard also follows the revocation feed. Default: 1m.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`

	// NegativeCacheTTL is how long an inactive answer is remembered, so a client
	// retrying a bad token costs one call per period. Default: 5s.
	NegativeCacheTTL caddy.Duration `json:"negative_cache_ttl,omitempty"`

	// NegativeCacheSize bounds how many inactive answers are remembered, so a stream of
	// garbage tokens cannot grow memory. Default: 10000.
	NegativeCacheSize int64 `json:"negative_cache_size,omitempty"`

	// Timeout bounds one introspection call; a slower server gives 503. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// RevocationsConfig configures the guard's revocation feed subscription.
type RevocationsConfig struct {
	// URL is the feed, e.g. https://auth.example.com/oauth/revocations. Required.
	URL string `json:"url"`

	// ClientID, ClientSecret and TokenURL authenticate the guard to the feed exactly as
	// for introspection. When ClientID is empty, those of Introspect are used, so a guard
	// in introspection mode names its credentials once; a guard in JWT mode gives them
	// here.
	ClientID string `json:"client_id,omitempty"`

	// ClientSecret is the secret of ClientID; placeholders such as {env.FEED_SECRET} work.
	ClientSecret string `json:"client_secret,omitempty"`

	// TokenURL, if set, makes the guard authenticate with a Bearer token it gets from this
	// token endpoint by client_credentials (renewed before it expires) instead of Basic.
	TokenURL string `json:"token_url,omitempty"`

	// BehindAfter is how long the feed may be unreachable before the guard logs a warning
	// and reports itself behind (metric caddy_oauth_guard_revocation_feed_behind). While
	// behind, the guard still refuses every id it already knows and lets other valid
	// tokens pass. Default: 15s.
	BehindAfter caddy.Duration `json:"behind_after,omitempty"`
}

// Pools shared across guards and reloads: introspection caches (with their singleflight
// groups) per endpoint and checks, and one feed subscription per (URL, credentials).
var (
	introspectionCachePool = caddy.NewUsagePool()
	feedPool               = caddy.NewUsagePool()
)

type introspectionCacheHandle struct{ *validator.IntrospectionCache }

// Destruct frees the cache.
func (h introspectionCacheHandle) Destruct() error {
	guardMetrics().live.removeCache(h.IntrospectionCache)
	h.Close()
	return nil
}

type feedHandle struct{ *validator.RevocationFeed }

// Destruct stops the subscription.
func (h feedHandle) Destruct() error {
	guardMetrics().live.removeFeed(h.RevocationFeed)
	h.Close()
	return nil
}

// secretKey stands for a secret inside a pool key, so the key (which may appear in
// debug output) never holds the secret itself.
func secretKey(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

func (g *Guard) provisionIntrospection(repl *caddy.Replacer, local *validator.JWTVerifier, leeway time.Duration, size int64) error {
	ic := g.Introspect
	ic.URL = repl.ReplaceKnown(ic.URL, "")
	ic.ClientID = repl.ReplaceKnown(ic.ClientID, "")
	ic.ClientSecret = repl.ReplaceKnown(ic.ClientSecret, "")
	ic.TokenURL = repl.ReplaceKnown(ic.TokenURL, "")
	switch {
	case ic.URL == "":
		return fmt.Errorf("oauth_guard: introspect: the endpoint URL is required")
	case !isHTTPURL(ic.URL):
		return fmt.Errorf("oauth_guard: introspect %q: not an http(s) URL", ic.URL)
	case ic.ClientID == "":
		return fmt.Errorf("oauth_guard: introspect: client_id is required")
	case ic.ClientSecret == "":
		return fmt.Errorf("oauth_guard: introspect: client_secret is required")
	case ic.TokenURL != "" && !isHTTPURL(ic.TokenURL):
		return fmt.Errorf("oauth_guard: introspect: token_url %q: not an http(s) URL", ic.TokenURL)
	case ic.CacheTTL < 0:
		return fmt.Errorf("oauth_guard: introspect: cache_ttl must not be negative")
	case ic.NegativeCacheTTL < 0:
		return fmt.Errorf("oauth_guard: introspect: negative_cache_ttl must not be negative")
	case ic.NegativeCacheSize < 0:
		return fmt.Errorf("oauth_guard: introspect: negative_cache_size must be positive")
	case ic.Timeout < 0:
		return fmt.Errorf("oauth_guard: introspect: timeout must not be negative")
	}
	// A cached answer is only valid for the checks it passed, so the cache is shared only
	// between guards that make the same ones.
	key := strings.Join([]string{ic.URL, ic.ClientID, ic.TokenURL, g.Issuer, strings.Join(g.Audience, " "),
		leeway.String(), g.JWKS, time.Duration(ic.CacheTTL).String(), time.Duration(ic.NegativeCacheTTL).String()}, "|")
	val, _, err := introspectionCachePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		c, err := validator.NewIntrospectionCache(size, ic.NegativeCacheSize)
		if err != nil {
			return nil, err
		}
		guardMetrics().live.addCache(c, "introspection")
		return introspectionCacheHandle{c}, nil
	})
	if err != nil {
		return fmt.Errorf("oauth_guard: introspect: %w", err)
	}
	g.icacheKey = key
	opts := validator.IntrospectionOptions{
		URL: ic.URL,
		Credentials: validator.CallerCredentials{
			ClientID: ic.ClientID, ClientSecret: ic.ClientSecret, TokenURL: ic.TokenURL,
		},
		Timeout:     time.Duration(ic.Timeout),
		Cache:       val.(introspectionCacheHandle).IntrospectionCache,
		CacheTTL:    time.Duration(ic.CacheTTL),
		NegativeTTL: time.Duration(ic.NegativeCacheTTL),
		Issuer:      g.Issuer,
		Audiences:   g.Audience,
		Leeway:      leeway,
		RetryAfter:  validator.DefaultRetryAfter,
		// Failures are logged once, by the guard's refusal (which carries the cause).
		OnCall: func(took time.Duration, outcome string) {
			g.metrics.observeIntrospection(took.Seconds(), outcome)
		},
	}
	if local != nil {
		opts.Local = local
	}
	if g.feed != nil {
		opts.Revoked = g.feed.Revoked
	}
	in, err := validator.NewIntrospector(opts)
	if err != nil {
		return fmt.Errorf("oauth_guard: introspect: %w", err)
	}
	g.check = in
	return nil
}

func (g *Guard) provisionFeed(repl *caddy.Replacer, leeway time.Duration) error {
	rc := g.Revocations
	rc.URL = repl.ReplaceKnown(rc.URL, "")
	rc.ClientID = repl.ReplaceKnown(rc.ClientID, "")
	rc.ClientSecret = repl.ReplaceKnown(rc.ClientSecret, "")
	rc.TokenURL = repl.ReplaceKnown(rc.TokenURL, "")
	creds := validator.CallerCredentials{ClientID: rc.ClientID, ClientSecret: rc.ClientSecret, TokenURL: rc.TokenURL}
	if creds.ClientID == "" && g.Introspect != nil {
		ic := g.Introspect
		creds = validator.CallerCredentials{
			ClientID:     repl.ReplaceKnown(ic.ClientID, ""),
			ClientSecret: repl.ReplaceKnown(ic.ClientSecret, ""),
			TokenURL:     repl.ReplaceKnown(ic.TokenURL, ""),
		}
	}
	switch {
	case rc.URL == "":
		return fmt.Errorf("oauth_guard: revocations: the feed URL is required")
	case !isHTTPURL(rc.URL):
		return fmt.Errorf("oauth_guard: revocations %q: not an http(s) URL", rc.URL)
	case creds.ClientID == "":
		return fmt.Errorf("oauth_guard: revocations: client_id is required (in the revocations block, or in introspect)")
	case creds.ClientSecret == "":
		return fmt.Errorf("oauth_guard: revocations: client_secret is required (in the revocations block, or in introspect)")
	case creds.TokenURL != "" && !isHTTPURL(creds.TokenURL):
		return fmt.Errorf("oauth_guard: revocations: token_url %q: not an http(s) URL", creds.TokenURL)
	case rc.BehindAfter < 0:
		return fmt.Errorf("oauth_guard: revocations: behind_after must not be negative")
	}
	// Revoked ids are kept past exp for as long as a verifier here still accepts the
	// token (the leeway), with a floor of the feed's default.
	retention := max(validator.DefaultFeedRetention, leeway+10*time.Second)
	key := strings.Join([]string{rc.URL, creds.ClientID, secretKey(creds.ClientSecret), creds.TokenURL,
		time.Duration(rc.BehindAfter).String(), retention.String()}, "|")
	logger := g.logger
	val, _, err := feedPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		f, err := validator.NewRevocationFeed(validator.RevocationFeedOptions{
			URL:         rc.URL,
			Credentials: creds,
			BehindAfter: time.Duration(rc.BehindAfter),
			Retention:   retention,
			OnBehind: func(out time.Duration, err error) {
				logger.Warn("revocation feed unreachable; revocations made meanwhile are not known here yet",
					zap.String("feed", rc.URL), zap.Duration("for", out), zap.Error(err))
			},
			OnCaughtUp: func(out time.Duration) {
				logger.Info("revocation feed reachable again", zap.String("feed", rc.URL), zap.Duration("was_out", out))
			},
		})
		if err != nil {
			return nil, err
		}
		guardMetrics().live.addFeed(f, rc.URL)
		return feedHandle{f}, nil
	})
	if err != nil {
		return fmt.Errorf("oauth_guard: revocations: %w", err)
	}
	g.feedKey = key
	g.feed = val.(feedHandle).RevocationFeed
	return nil
}

func isHTTPURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}
