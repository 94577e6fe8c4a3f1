package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
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

// Identity headers the upstream receives (validator strips the caller's own first).
const (
	HeaderUserID   = validator.HeaderUserID
	HeaderClientID = validator.HeaderClientID
	HeaderScopes   = validator.HeaderScopes
	HeaderTokenID  = validator.HeaderTokenID
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

	// PassportRevocations, when set, follows a running Laravel Passport application's
	// revocations in its database (oauth_access_tokens.revoked), so a token Laravel
	// revokes is refused within about one interval, with no call per request.
	PassportRevocations *PassportRevocationsConfig `json:"passport_revocations,omitempty"`

	// Issuer is the `iss` every token must carry. Required with JWKS unless Passport is
	// set; with introspection only, an answer that names an issuer must name this one. A
	// JWT of this issuer must also carry typ at+jwt (RFC 9068), so an ID token signed by
	// the same keys is never taken for an access token.
	Issuer string `json:"issuer,omitempty"`

	// Passport accepts Laravel Passport's access tokens as Passport mints them: no iss,
	// typ JWT, no kid, checked against the key JWKS names (Passport's oauth-public.key,
	// PEM). With Passport, Issuer is optional; if set, a token that carries an iss must
	// still name it and carry typ at+jwt, so one guard takes this server's tokens and
	// Passport's while an application moves over. Opt-in, because a token without iss
	// then passes on its key alone: JWKS must name only keys that sign access tokens.
	Passport bool `json:"passport,omitempty"`

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

	// DPoPProofWindow is how far the iat of a DPoP proof may be from the guard's clock,
	// either way (RFC 9449 §11.1). DPoP-bound tokens (cnf.jkt) are always checked: sent
	// with the DPoP scheme and one DPoP proof of their key for this request's method and
	// URL, accepted once per process. Default: 60s.
	DPoPProofWindow caddy.Duration `json:"dpop_proof_window,omitempty"`

	// DPoPNonce makes the guard require a nonce it issued in every DPoP proof (RFC 9449
	// §9): a proof without a fresh one gets 401 use_dpop_nonce with a nonce in the
	// DPoP-Nonce header, and each answer to a DPoP request carries a new one. Nonces are
	// MACed with a key made at Caddy's start, shared by its guards, good for 5 minutes.
	DPoPNonce bool `json:"dpop_nonce,omitempty"`

	decide    *validator.Guard // the whole decision: headers stripped, token, rules
	extra     [][2]string
	jwt       *validator.JWTVerifier // the local JWT check; nil with introspection only
	keys      *validator.KeySource   // pooled, with cache: the JWT check's shared state
	cache     *validator.TokenCache
	check     validator.Verifier // what a token goes through: jwt, or an Introspector
	feed      *validator.RevocationFeed
	passport  *validator.PassportRevocations
	passKey   string
	keysKey   string
	cacheKey  string
	icacheKey string
	feedKey   string
	issuedKey string // the cache key this guard subscribed to issuedTokens with
	dpopKey   string // dpopPoolKey while this guard holds the shared replay cache and nonces
	logger    *zap.Logger
	metrics   *guardCollectors
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
	if g.JWKS != "" && g.Issuer == "" && !g.Passport {
		return errors.New("oauth_guard: issuer: required with jwks (the iss of this server's tokens); " +
			"for Laravel Passport's tokens, which carry no iss, add the line `passport` (JSON: \"passport\": true)")
	}
	if g.Passport && g.JWKS == "" {
		return errors.New("oauth_guard: passport: Passport's tokens are checked against its public key; set jwks to its oauth-public.key")
	}
	var rules []scopes.Rule
	for i, r := range g.Scopes {
		mode, err := scopes.ParseMode(r.Mode)
		if err != nil {
			return fmt.Errorf("oauth_guard: scopes #%d: %w", i+1, err)
		}
		if len(r.Scopes) == 0 {
			return fmt.Errorf("oauth_guard: scopes %s: at least one scope is required", r.Mode)
		}
		rules = append(rules, scopes.Rule{Mode: mode, Scopes: r.Scopes})
	}
	subject, err := validator.ParseSubject(g.Subject)
	if err != nil {
		return fmt.Errorf("oauth_guard: %w", err)
	}
	if g.Realm == "" {
		g.Realm = "api"
	}
	var strip []string
	for name, value := range g.Headers {
		canon := http.CanonicalHeaderKey(name)
		if canon == "" || strings.ContainsAny(canon, " :\r\n") {
			return fmt.Errorf("oauth_guard: header %q: not a valid header name", name)
		}
		strip = append(strip, canon)
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
	dpopOpts, err := g.provisionDPoP()
	if err != nil {
		g.release()
		return fmt.Errorf("oauth_guard: %w", err)
	}
	g.decide, err = validator.NewGuard(validator.GuardOptions{
		Verifier:     g.check,
		Revocations:  g.revocationLists(),
		Subject:      subject,
		Provider:     g.Provider,
		Scopes:       rules,
		Cookie:       g.Cookie,
		StripHeaders: strip,
		DPoP:         dpopOpts,
	})
	if err != nil {
		g.release()
		return fmt.Errorf("oauth_guard: %w", err)
	}
	return nil
}

// provisionVerifiers builds the token check the options ask for: JWT, introspection,
// or both, and the revocation feed.
func (g *Guard) provisionVerifiers(repl *caddy.Replacer, leeway time.Duration, size int64) error {
	if g.JWKS != "" {
		if err := g.provisionJWT(leeway, size); err != nil {
			return fmt.Errorf("oauth_guard: %w", err)
		}
		g.check = g.jwt
	}
	if g.Revocations != nil {
		if err := g.provisionFeed(repl, leeway); err != nil {
			return err
		}
	}
	if g.PassportRevocations != nil {
		if err := g.provisionPassportRevocations(repl); err != nil {
			return err
		}
	}
	if g.Introspect != nil {
		if err := g.provisionIntrospection(repl, g.jwt, leeway, size); err != nil {
			return err
		}
	}
	return nil
}

// release gives back every pooled resource this guard holds, the dependents first.
func (g *Guard) release() {
	if g.issuedKey != "" {
		issuedTokens.unsubscribe(g.Issuer, g.issuedKey)
		g.issuedKey = ""
	}
	for _, held := range []struct {
		pool *caddy.UsagePool
		key  *string
	}{
		{dpopPool, &g.dpopKey}, {passportPool, &g.passKey}, {feedPool, &g.feedKey}, {introspectionCachePool, &g.icacheKey},
		{cachePool, &g.cacheKey}, {keySourcePool, &g.keysKey},
	} {
		if *held.key != "" {
			_, _ = held.pool.Delete(*held.key)
			*held.key = ""
		}
	}
}

// Cleanup releases the shared key source, caches and revocation feed.
func (g *Guard) Cleanup() error {
	g.release()
	return nil
}

// ServeHTTP lets validator decide about the request, then passes it on with the identity
// headers and placeholders set, or writes the refusal.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	id, token, err := g.decide.CheckToken(r)
	if err != nil {
		return g.refuse(w, err)
	}
	h := r.Header

	// The request's own header values and placeholder provider, in one allocation (and
	// one more for the provider's method value). A later handler may edit a header value
	// in place (Caddy's header replace does) or append, so each slice is capped at its
	// own element and never shared with another request.
	ri := &requestIdentity{id: id, token: token}
	ri.vals = [4]string{id.UserID, id.ClientID, id.ScopeString, id.TokenID}
	if id.UserID != "" {
		h[HeaderUserID] = ri.vals[0:1:1]
	}
	h[HeaderClientID] = ri.vals[1:2:2]
	h[HeaderScopes] = ri.vals[2:3:3]
	h[HeaderTokenID] = ri.vals[3:4:4]

	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	// The provider answers {http.auth.user.id} and every {oauth.*} placeholder. Values Set
	// in the replacer come before providers, so when an earlier handler (basic_auth,
	// vars) already set the user id, the guard Sets its own over it: the token's user is
	// the one the access log names.
	if _, set := repl.Get("http.auth.user.id"); set {
		repl.Set("http.auth.user.id", (*authUserValue)(ri))
	}
	repl.Map(ri.get)
	for _, hv := range g.extra {
		v := repl.ReplaceAll(hv[1], "")
		if !validHeaderValue(v) {
			// A claim ({oauth.claim.*}) with CR or LF in it: refuse the token here rather
			// than let the proxy fail with 502 or send a split header.
			for _, done := range g.extra {
				delete(h, done[0])
			}
			if id.DPoPKey() != "" {
				return g.refuse(w, validator.AsDPoPRefusal(unsafeHeaderRefusal))
			}
			return g.refuse(w, unsafeHeaderRefusal)
		}
		h[hv[0]] = []string{v}
	}
	if id.DPoPKey() != "" {
		// A fresh nonce for the client's next proof (RFC 9449 §8.2); "" without dpop_nonce.
		if n := g.decide.DPoPNonce(); n != "" {
			w.Header().Set("DPoP-Nonce", n)
		}
	}
	g.metrics.pass.Inc()
	return next.ServeHTTP(w, r)
}

// unsafeHeaderRefusal answers a token whose claims would put a control character in an
// extra header.
var unsafeHeaderRefusal = validator.Refuse(validator.InvalidToken, "the token's claims contain control characters")

// validHeaderValue reports whether v may be a header value: no control characters but
// horizontal tab (RFC 9110 §5.5).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// requestIdentity is what one request that passed the guard knows of its token: the
// identity (shared with every request of the same cached token), the token itself, and
// the values of the identity headers. It answers the request's {oauth.*} placeholders.
// Values are boxed when read (most requests read none), except the user id, which every
// access log line reads: it is answered as a Stringer over this struct, which boxes
// without allocating.
type requestIdentity struct {
	vals   [4]string // user, client, scopes, token id
	id     *validator.Identity
	token  string
	once   sync.Once
	claims *validator.Claims
}

// authUserValue is the {http.auth.user.id} of a request: its user, or for a client token
// its client.
type authUserValue requestIdentity

func (a *authUserValue) String() string {
	if a.id.UserID != "" {
		return a.id.UserID
	}
	return a.id.ClientID
}

// get answers {http.auth.user.id}, {oauth.user_id}, {oauth.client_id}, {oauth.scopes},
// {oauth.token_id}, {oauth.expires_at}, {oauth.token_type} (DPoP or Bearer) and
// {oauth.claim.<name>}.
func (ri *requestIdentity) get(key string) (any, bool) {
	if !strings.HasPrefix(key, "oauth.") {
		if key == "http.auth.user.id" {
			return (*authUserValue)(ri), true
		}
		return nil, false
	}
	id := ri.id
	switch key[len("oauth."):] {
	case "user_id":
		return id.UserID, true
	case "client_id":
		return id.ClientID, true
	case "scopes":
		return id.ScopeString, true
	case "token_id":
		return id.TokenID, true
	case "expires_at":
		return strconv.FormatInt(id.ExpiresAt().Unix(), 10), true
	case "token_type":
		if id.DPoPKey() != "" {
			return "DPoP", true
		}
		return "Bearer", true
	}
	if name, ok := strings.CutPrefix(key, "oauth.claim."); ok {
		// A cached identity keeps no claims: the token's are decoded once per request
		// that asks for one.
		ri.once.Do(func() { ri.claims = id.ClaimsFor(ri.token) })
		return ri.claims.Get(name)
	}
	return nil, false
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

// keySourceHandle is a pooled JWKS source; its context ends its background work
// (refresh, and retries of a first load that failed) when the last guard lets it go.
type keySourceHandle struct {
	src    *validator.KeySource
	cancel context.CancelFunc
}

// Destruct stops the background refresh and any pending retry.
func (h keySourceHandle) Destruct() error {
	h.cancel()
	h.src.Close()
	return nil
}

type cacheHandle struct{ *validator.TokenCache }

// Destruct frees the cache.
func (h cacheHandle) Destruct() error {
	guardMetrics().live.removeCache(h.TokenCache)
	return nil
}

// provisionJWT builds the local JWT check. The key source is shared per JWKS location and
// the verified-token cache per (location, issuer, audience, leeway, passport), since a cached
// identity is only valid for those checks. A JWKS URL that does not answer yet (often
// this same Caddy, not listening yet) is retried; requests get 503 until it loads.
func (g *Guard) provisionJWT(leeway time.Duration, size int64) error {
	location, log := g.JWKS, g.logger
	val, loaded, err := keySourcePool.LoadOrNew(location, func() (caddy.Destructor, error) {
		ctx, cancel := context.WithCancel(context.Background())
		src, err := validator.NewKeySourceContext(ctx, location, validator.KeySourceOptions{
			RetryFirstLoad: true,
			OnLoaded:       func() { log.Info("JWKS loaded", zap.String("jwks", location)) },
			OnRefreshError: func(err error) {
				log.Warn("refreshing JWKS; keeping the keys already loaded", zap.String("jwks", location), zap.Error(err))
			},
		})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("jwks %s: %w", location, err)
		}
		return keySourceHandle{src: src, cancel: cancel}, nil
	})
	if err != nil {
		return err
	}
	g.keysKey = location
	g.keys = val.(keySourceHandle).src
	if pending := g.keys.Pending(); pending != nil && !loaded {
		log.Warn("JWKS not loadable yet; retrying, and requests get 503 until it loads", zap.String("jwks", location), zap.Error(pending))
	}
	cacheKey := fmt.Sprintf("%s|%s|%s|%s|%t", location, g.Issuer, strings.Join(g.Audience, " "), leeway, g.Passport)
	cval, _, err := cachePool.LoadOrNew(cacheKey, func() (caddy.Destructor, error) {
		c, err := validator.NewTokenCache(size)
		if err != nil {
			return nil, err
		}
		guardMetrics().live.addCache(c, "jwt")
		return cacheHandle{c}, nil
	})
	if err != nil {
		return err
	}
	g.cacheKey = cacheKey
	g.cache = cval.(cacheHandle).TokenCache
	g.jwt, err = validator.NewJWTVerifier(validator.JWTOptions{
		Keys:      g.keys,
		Issuer:    g.Issuer,
		Passport:  g.Passport,
		Audiences: g.Audience,
		Leeway:    leeway,
		Cache:     g.cache,
	})
	if err != nil {
		return err
	}
	// Tokens an oauth_server of this process issues for this issuer are admitted into
	// the cache as they are made (guard_issued_tokens.go).
	if g.Issuer != "" {
		issuedTokens.subscribe(g.Issuer, cacheKey, g.jwt)
		g.issuedKey = cacheKey
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Guard)(nil)
	_ caddy.CleanerUpper          = (*Guard)(nil)
	_ caddyhttp.MiddlewareHandler = (*Guard)(nil)
)
