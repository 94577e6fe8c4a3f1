package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/validator"
)

func init() {
	caddy.RegisterModule(Guard{})
}

// Identity headers the upstream receives. Any header of these names sent by the caller, in
// any case and with '_' or '.' for '-', is removed before the token is even looked at.
const (
	HeaderUserID   = "X-Oauth-User-Id"
	HeaderClientID = "X-Oauth-Client-Id"
	HeaderScopes   = "X-Oauth-Scopes"
	HeaderTokenID  = "X-Oauth-Token-Id"
)

// Guard is the `oauth_guard` handler: it checks the bearer token of each request, enforces
// scope and subject rules, strips caller-sent identity headers, sets them from the token
// and passes the request on. Refusals follow RFC 6750.
type Guard struct {
	// JWKS is the URL or file of the JSON Web Key Set that signs tokens. Keys are cached;
	// an unknown kid triggers a refetch at most every 10s. Required unless Introspect is
	// set; with both, a token must pass the local signature check and, on first sight
	// (and again after cache_ttl), introspection: the server's word on every new token.
	JWKS string `json:"jwks,omitempty"`

	// Introspect, when set, checks tokens by RFC 7662 introspection at the authorization
	// server, caching answers in memory. Without JWKS every token (opaque or JWT) is
	// introspected.
	Introspect *IntrospectConfig `json:"introspect,omitempty"`

	// Revocations, when set, follows the authorization server's feed of revoked token
	// ids (GET /oauth/revocations) so a revoked token is refused at once, without a
	// per-request call, in both JWT and introspection modes.
	Revocations *RevocationsConfig `json:"revocations,omitempty"`

	// Issuer is the `iss` every token must carry. Required with JWKS; with introspection
	// only, an answer that names an issuer must name this one.
	Issuer string `json:"issuer,omitempty"`

	// Audience, if set, requires the token's `aud` to contain one of these values.
	Audience []string `json:"audience,omitempty"`

	// Scopes are scope rules; a token must satisfy every rule.
	Scopes []ScopeRuleConfig `json:"scopes,omitempty"`

	// Subject restricts the kind of token: "user" (tokens for a user), "client" (client
	// credentials tokens) or "any" (default).
	Subject string `json:"subject,omitempty"`

	// Provider, if set, accepts only tokens issued for this user provider.
	Provider string `json:"provider,omitempty"`

	// Cookie, if set, also accepts a first-party token from the cookie of this name when
	// the request has no Authorization header, but only together with an X-CSRF-TOKEN or
	// X-XSRF-TOKEN header equal to the token's csrf claim (see guard_cookie.go). It needs
	// the local JWT check: an introspection answer does not carry the csrf claim.
	Cookie string `json:"cookie,omitempty"`

	// Headers are extra request headers set from placeholders after a token passes, such as
	// {"X-User-Email": "{oauth.claim.email}"}. They are stripped from the caller's request
	// first, like the built-in identity headers.
	Headers map[string]string `json:"headers,omitempty"`

	// Realm is the realm of the WWW-Authenticate challenge. Default: "api".
	Realm string `json:"realm,omitempty"`

	// Leeway is the clock skew allowed on exp and nbf. Default (unset): 30s; 0 allows none.
	Leeway *caddy.Duration `json:"leeway,omitempty"`

	// CacheSize is the number of verified tokens kept in memory. A token is cached on its
	// second use, so tokens used once take no room. Default: 100000.
	CacheSize int64 `json:"cache_size,omitempty"`

	rules     []scopes.Rule
	strip     spoofNames
	extra     [][2]string
	verify    *lazyVerifier      // the JWT check; nil with introspection only
	check     validator.Verifier // what requests go through: verify, or an Introspector
	feed      *validator.RevocationFeed
	keysKey   string
	cacheKey  string
	icacheKey string
	feedKey   string
	logger    *zap.Logger
	metrics   *guardCollectors
	requireUs bool
	requireCl bool
}

// ScopeRuleConfig is one scope rule.
type ScopeRuleConfig struct {
	// Mode is "all" (the token needs every scope) or "any" (at least one).
	Mode string `json:"mode"`
	// Scopes are the scopes of the rule.
	Scopes []string `json:"scopes"`
}

// CaddyModule returns the Caddy module information.
func (Guard) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.oauth_guard",
		New: func() caddy.Module { return new(Guard) },
	}
}

// Provision builds the rules, registers the guard's metrics, and acquires the shared
// resources its mode needs: key source and token cache (jwks), introspection cache
// (introspect), revocation feed subscription (revocations).
func (g *Guard) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger()
	g.metrics = guardMetrics()
	if err := g.metrics.register(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("oauth_guard: registering metrics: %w", err)
	}
	repl := caddy.NewReplacer()
	g.JWKS = repl.ReplaceKnown(g.JWKS, "")
	g.Issuer = repl.ReplaceKnown(g.Issuer, "")
	if g.JWKS == "" && g.Introspect == nil {
		return errors.New("oauth_guard: jwks: a JWKS URL or file is required (or an introspect endpoint)")
	}
	if g.Cookie != "" && g.JWKS == "" {
		return errors.New("oauth_guard: cookie: cookie tokens are checked against their csrf claim, which needs jwks (introspection answers do not carry it)")
	}
	if g.JWKS != "" && g.Issuer == "" {
		return errors.New("oauth_guard: issuer: the token issuer is required")
	}
	for i, r := range g.Scopes {
		mode, err := scopes.ParseMode(r.Mode)
		if err != nil {
			return fmt.Errorf("oauth_guard: scopes #%d: %w", i+1, err)
		}
		if len(r.Scopes) == 0 {
			return fmt.Errorf("oauth_guard: scopes %s: at least one scope is required", r.Mode)
		}
		g.rules = append(g.rules, scopes.Rule{Mode: mode, Scopes: r.Scopes})
	}
	switch g.Subject {
	case "", "any":
	case "user":
		g.requireUs = true
	case "client":
		g.requireCl = true
	default:
		return fmt.Errorf("oauth_guard: subject %q: must be user, client or any", g.Subject)
	}
	if g.Realm == "" {
		g.Realm = "api"
	}
	g.strip.add(HeaderUserID, HeaderClientID, HeaderScopes, HeaderTokenID)
	for name, value := range g.Headers {
		canon := http.CanonicalHeaderKey(name)
		if canon == "" || strings.ContainsAny(canon, " :\r\n") {
			return fmt.Errorf("oauth_guard: header %q: not a valid header name", name)
		}
		g.strip.add(canon)
		g.extra = append(g.extra, [2]string{canon, value})
	}
	leeway := validator.DefaultLeeway
	if g.Leeway != nil {
		if *g.Leeway < 0 {
			return fmt.Errorf("oauth_guard: leeway %s: must not be negative", time.Duration(*g.Leeway))
		}
		// The validator reads a negative leeway as "none" and zero as "default".
		leeway = time.Duration(*g.Leeway)
		if leeway == 0 {
			leeway = -1
		}
	}
	size := g.CacheSize
	if size <= 0 {
		size = 100_000
	}
	if err := g.provisionVerifiers(repl, leeway, size); err != nil {
		g.release()
		return err
	}
	return nil
}

// provisionVerifiers builds the token check the options ask for: JWT, introspection,
// or both, and the revocation feed.
func (g *Guard) provisionVerifiers(repl *caddy.Replacer, leeway time.Duration, size int64) error {
	if g.JWKS != "" {
		var err error
		g.verify, g.keysKey, g.cacheKey, err = acquireVerifier(g.JWKS, g.Issuer, g.Audience, leeway, size, g.logger)
		if err != nil {
			return fmt.Errorf("oauth_guard: %w", err)
		}
		g.check = g.verify
	}
	if g.Revocations != nil {
		if err := g.provisionFeed(repl, leeway); err != nil {
			return err
		}
	}
	if g.Introspect != nil {
		if err := g.provisionIntrospection(repl, g.verify, leeway, size); err != nil {
			return err
		}
	}
	return nil
}

// release gives back every pooled resource this guard holds.
func (g *Guard) release() {
	if g.feedKey != "" {
		_, _ = feedPool.Delete(g.feedKey)
		g.feedKey = ""
	}
	if g.icacheKey != "" {
		_, _ = introspectionCachePool.Delete(g.icacheKey)
		g.icacheKey = ""
	}
	if g.cacheKey != "" {
		_, _ = cachePool.Delete(g.cacheKey)
		g.cacheKey = ""
	}
	if g.keysKey != "" {
		_, _ = keySourcePool.Delete(g.keysKey)
		g.keysKey = ""
	}
}

// Cleanup releases the shared key source, caches and revocation feed.
func (g *Guard) Cleanup() error {
	g.release()
	return nil
}

// ServeHTTP checks the token and passes the request on with the identity headers set.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	h := r.Header
	stripSpoofed(h, &g.strip)
	token, fromCookie, err := g.requestToken(r)
	if err != nil {
		return g.refuse(w, err)
	}
	id, err := g.check.Verify(r.Context(), token)
	if err != nil {
		return g.refuse(w, err)
	}
	// Checked on every request, cached token or not: the set is swapped atomically, so
	// this is one map lookup.
	if g.feed != nil && id.TokenID != "" && g.feed.Revoked(id.TokenID) {
		return g.refuse(w, revokedRefusal)
	}
	switch {
	case fromCookie && !cookieCSRFMatches(r, id):
		return g.refuse(w, validator.Refuse(validator.InvalidToken, "a cookie token needs the X-XSRF-TOKEN or X-CSRF-TOKEN header"))
	case g.requireUs && !id.IsUser():
		return g.refuse(w, validator.Refuse(validator.InvalidToken, "a user token is required"))
	case g.requireCl && id.IsUser():
		return g.refuse(w, validator.Refuse(validator.InvalidToken, "a client token is required"))
	case g.Provider != "" && id.Provider != g.Provider:
		return g.refuse(w, validator.Refuse(validator.InvalidToken, "the token was not issued for this user provider"))
	}
	for _, rule := range g.rules {
		if !rule.Satisfied(id.Scopes) {
			return g.refuse(w, validator.RefuseScope(rule.Scopes))
		}
	}

	// One backing array for the four header values, each slice capped at its own element:
	// a later handler may edit a value in place (Caddy's header replace does) or append,
	// so values are never shared between requests, yet this is one allocation, not four.
	vals := &[4]string{id.UserID, id.ClientID, id.ScopeString, id.TokenID}
	if id.UserID != "" {
		h[HeaderUserID] = vals[0:1:1]
	}
	h[HeaderClientID] = vals[1:2:2]
	h[HeaderScopes] = vals[2:3:3]
	h[HeaderTokenID] = vals[3:4:4]

	ph := id.Memo(newIdentityPlaceholders).(*identityPlaceholders)
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	// The provider answers {http.auth.user.id} and every {oauth.*} placeholder without a
	// per-request allocation. Values Set in the replacer come before providers, so when an
	// earlier handler (basic_auth, vars) already set the user id, the guard Sets its own
	// over it: the token's user is the one the access log names, as before.
	if _, set := repl.Get("http.auth.user.id"); set {
		repl.Set("http.auth.user.id", ph.authUser)
	}
	repl.Map(ph.lookup)
	for _, hv := range g.extra {
		h[hv[0]] = []string{repl.ReplaceAll(hv[1], "")}
	}
	g.metrics.pass.Inc()
	return next.ServeHTTP(w, r)
}

// identityPlaceholders answer an identity's {oauth.*} placeholders, built once per
// identity (Identity.Memo) and shared by every request the cached identity serves: one
// provider function for all of them, so a cache hit adds no allocation for placeholders.
// Building it costs two small allocations per new token; values are boxed when read
// (most requests read none), except the user id, which every access log line reads.
type identityPlaceholders struct {
	id       *validator.Identity
	authUser any
	lookup   caddy.ReplacerFunc
}

func newIdentityPlaceholders(id *validator.Identity) any {
	authUser := id.UserID
	if authUser == "" {
		authUser = id.ClientID
	}
	p := &identityPlaceholders{id: id, authUser: authUser}
	p.lookup = p.get
	return p
}

// get answers {http.auth.user.id}, {oauth.user_id}, {oauth.client_id}, {oauth.scopes},
// {oauth.token_id}, {oauth.expires_at} and {oauth.claim.<name>}.
func (p *identityPlaceholders) get(key string) (any, bool) {
	if !strings.HasPrefix(key, "oauth.") {
		if key == "http.auth.user.id" {
			return p.authUser, true
		}
		return nil, false
	}
	switch key[len("oauth."):] {
	case "user_id":
		return p.id.UserID, true
	case "client_id":
		return p.id.ClientID, true
	case "scopes":
		return p.id.ScopeString, true
	case "token_id":
		return p.id.TokenID, true
	case "expires_at":
		return strconv.FormatInt(p.id.ExpiresAt.Unix(), 10), true
	}
	if name, ok := strings.CutPrefix(key, "oauth.claim."); ok {
		return p.id.Claim(name)
	}
	return nil, false
}

// revokedRefusal is the answer to a token the revocation feed names; one shared value,
// so refusing it allocates nothing.
var revokedRefusal = &validator.Refusal{Kind: validator.InvalidToken, Description: "token revoked", Err: validator.ErrRevoked}

// stripSpoofed removes every caller header an upstream could take for one of names:
// any spelling that differs only in case or in '_' or '.' for '-'. CGI and FastCGI
// (Caddy's php_fastcgi among them), PHP, and the frameworks that read headers the CGI
// way, fold "X_OAuth_User_Id", "X.OAuth.User.Id" and "X-OAuth-User-Id" into the same
// HTTP_X_OAUTH_USER_ID variable, so deleting only the canonical name would let a caller
// choose the user id PHP sees. Caddy drops such names itself unless a site allows them
// (expected_underscore_headers, expected_dot_headers); the guard does not rely on that.
func stripSpoofed(h http.Header, names *spoofNames) {
	for key := range h {
		// Most caller headers differ in length from every protected name: one bit test
		// skips them without comparing bytes.
		if n := len(key); n < len(names.lens)*64 && names.lens[n/64]&(1<<(n%64)) == 0 {
			continue
		}
		for _, name := range names.names {
			if sameHeaderName(key, name) {
				delete(h, key) // deleting the current key while ranging is safe
				break
			}
		}
	}
}

// spoofNames are the header names stripSpoofed removes, with a bitmap of their lengths.
type spoofNames struct {
	names []string
	lens  [4]uint64 // bit n set: some name is n bytes long (names of 256 bytes or more are always compared)
}

func (s *spoofNames) add(names ...string) {
	for _, n := range names {
		s.names = append(s.names, n)
		if len(n) < len(s.lens)*64 {
			s.lens[len(n)/64] |= 1 << (len(n) % 64)
		}
	}
}

// sameHeaderName compares header names ASCII case-insensitively, '_' and '.' matching '-'.
func sameHeaderName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' || x == '.' {
			x = '-'
		}
		if y == '_' || y == '.' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (g *Guard) refuse(w http.ResponseWriter, err error) error {
	g.metrics.outcome[refusalReason(err)].Inc()
	if ref, ok := validator.AsRefusal(err); ok && ref.Kind == validator.Unavailable {
		if ce := g.logger.Check(zap.WarnLevel, "token check unavailable"); ce != nil {
			ce.Write(zap.Error(err))
		}
	}
	validator.WriteRefusal(w, err, g.Realm)
	return nil
}

// keySourcePool and cachePool share the JWKS fetcher and verified-token cache across
// guards and config reloads.
var (
	keySourcePool = caddy.NewUsagePool()
	cachePool     = caddy.NewUsagePool()
)

// lazyVerifier builds its JWT verifier on first use when the JWKS cannot be loaded at
// provisioning, as when the guard and the server that publishes the keys share one
// Caddy that is not listening yet. Until keys load, requests get 503, never a pass.
type lazyVerifier struct {
	ready atomic.Pointer[validator.JWTVerifier]
	keys  *keySourceHandle
	opts  validator.JWTOptions
}

// Verify verifies a token, first loading the keys if they are not loaded yet.
func (l *lazyVerifier) Verify(ctx context.Context, token string) (*validator.Identity, error) {
	if v := l.ready.Load(); v != nil {
		return v.Verify(ctx, token)
	}
	src, err := l.keys.get(true)
	if err != nil {
		return nil, validator.RefuseUnavailable(retryGap, err)
	}
	opts := l.opts
	opts.Keys = src
	v, err := validator.NewJWTVerifier(opts)
	if err != nil {
		return nil, validator.RefuseUnavailable(retryGap, err)
	}
	l.ready.CompareAndSwap(nil, v)
	return l.ready.Load().Verify(ctx, token)
}

// retryGap is how long a refusal for missing keys asks the caller to wait, and the least
// time between two failed attempts to load them from the request path.
const retryGap = time.Second

// failedLoadGap bounds request-driven key loads while the JWKS stays unreachable; tries are
// also coalesced, so a burst of requests makes one fetch.
const failedLoadGap = 100 * time.Millisecond

// keySourceHandle is a pooled JWKS source, loaded on first success. Until then a
// background loop retries with backoff, and requests try too (coalesced, rate-limited).
type keySourceHandle struct {
	location string
	logger   *zap.Logger
	src      atomic.Pointer[validator.KeySource]
	mu       sync.Mutex
	lastFail time.Time
	lastErr  error
	stop     chan struct{}
	stopOnce sync.Once
}

func newKeySourceHandle(location string, log *zap.Logger) *keySourceHandle {
	return &keySourceHandle{location: location, logger: log, stop: make(chan struct{})}
}

// get returns the loaded source, loading it first if need be. A request arriving
// right after a failure at provisioning still tries: the provisioning attempt often fails
// only because this same Caddy was not listening yet.
func (h *keySourceHandle) get(fromRequest bool) (*validator.KeySource, error) {
	if src := h.src.Load(); src != nil {
		return src, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if src := h.src.Load(); src != nil {
		return src, nil
	}
	if fromRequest && time.Since(h.lastFail) < failedLoadGap {
		return nil, h.lastErr
	}
	src, err := validator.NewKeySource(h.location, validator.KeySourceOptions{
		OnRefreshError: func(err error) {
			h.logger.Warn("refreshing JWKS; keeping the keys already loaded", zap.String("jwks", h.location), zap.Error(err))
		},
	})
	if err != nil {
		h.lastErr = err
		if fromRequest {
			h.lastFail = time.Now()
		}
		return nil, err
	}
	h.src.Store(src)
	return src, nil
}

// retryInBackground loads the keys with backoff until they load or the handle is
// destroyed, so the first requests after start rarely find the guard without keys.
func (h *keySourceHandle) retryInBackground() {
	wait := 50 * time.Millisecond
	for {
		select {
		case <-h.stop:
			return
		case <-time.After(wait):
		}
		if _, err := h.get(false); err == nil {
			h.logger.Info("JWKS loaded", zap.String("jwks", h.location))
			return
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// Destruct stops the background refresh and any pending retry.
func (h *keySourceHandle) Destruct() error {
	h.stopOnce.Do(func() { close(h.stop) })
	h.mu.Lock()
	defer h.mu.Unlock()
	if src := h.src.Load(); src != nil {
		src.Close()
	}
	return nil
}

type cacheHandle struct{ *validator.TokenCache }

// Destruct frees the cache.
func (h cacheHandle) Destruct() error {
	guardMetrics().live.removeCache(h.TokenCache)
	h.Close()
	return nil
}

// acquireVerifier shares the key source per JWKS location and the verified-token cache per
// (location, issuer, audience), since a cached identity is only valid for those checks.
func acquireVerifier(location, issuer string, audience []string, leeway time.Duration, size int64, log *zap.Logger) (*lazyVerifier, string, string, error) {
	keysKey := location
	val, loaded, err := keySourcePool.LoadOrNew(keysKey, func() (caddy.Destructor, error) {
		return newKeySourceHandle(location, log), nil
	})
	if err != nil {
		return nil, "", "", err
	}
	keysH := val.(*keySourceHandle)
	if !loaded {
		// Try now so a bad file or URL shows up at startup; a server that is not
		// listening yet is retried on the first request.
		if _, err := keysH.get(false); err != nil {
			if !strings.HasPrefix(location, "http://") && !strings.HasPrefix(location, "https://") {
				_, _ = keySourcePool.Delete(keysKey)
				return nil, "", "", fmt.Errorf("jwks %s: %w", location, err)
			}
			log.Warn("JWKS not loadable yet; retrying, and requests get 503 until it loads", zap.String("jwks", location), zap.Error(err))
			go keysH.retryInBackground()
		}
	}
	cacheKey := fmt.Sprintf("%s|%s|%s|%s", location, issuer, strings.Join(audience, " "), leeway)
	cval, _, err := cachePool.LoadOrNew(cacheKey, func() (caddy.Destructor, error) {
		c, err := validator.NewTokenCache(size)
		if err != nil {
			return nil, err
		}
		guardMetrics().live.addCache(c, "jwt")
		return cacheHandle{c}, nil
	})
	if err != nil {
		_, _ = keySourcePool.Delete(keysKey)
		return nil, "", "", err
	}
	lv := &lazyVerifier{keys: keysH, opts: validator.JWTOptions{
		Issuer:    issuer,
		Audiences: audience,
		Leeway:    leeway,
		Cache:     cval.(cacheHandle).TokenCache,
	}}
	return lv, keysKey, cacheKey, nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Guard)(nil)
	_ caddy.CleanerUpper          = (*Guard)(nil)
	_ caddyhttp.MiddlewareHandler = (*Guard)(nil)
)
