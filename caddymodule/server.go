package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

func init() {
	caddy.RegisterModule(Server{})
}

// Server is the `oauth_server` handler: a complete OAuth 2.0 authorization server. It
// answers its own endpoints (/oauth/token, /.well-known/...) and passes every other
// request to the next handler.
type Server struct {
	// Issuer is the `iss` of every token and the base of the metadata URLs, e.g.
	// https://auth.example.com. Default: the origin of each request (scheme and host),
	// taken from the Host header: on a site that answers any host a caller then chooses
	// the iss of its tokens, so Provision warns when it is unset. An https issuer also
	// makes the browser cookies Secure when TLS ends at a proxy in front of Caddy.
	Issuer string `json:"issuer,omitempty"`

	// Storage says where state is kept. Default: SQLite in oauth.db under Caddy's data
	// directory.
	Storage *StorageConfig `json:"storage,omitempty"`

	// KeysDir is a folder holding the signing key as PEM (private.pem, or Passport's
	// oauth-private.key), or the private key's PEM content itself (a value beginning with
	// -----BEGIN, usually a placeholder such as {env.PASSPORT_PRIVATE_KEY}; PKCS#1, PKCS#8
	// or SEC 1; \n escapes of a one-line .env value are undone). Placeholders are replaced;
	// one that comes out empty is an error. Default: keys are made on first start and
	// kept in the store, so every node sharing the store signs with the same key.
	KeysDir string `json:"keys,omitempty"`

	// SigningAlg is the algorithm of keys made by the server: ES256 (default), RS256 or EdDSA.
	SigningAlg string `json:"signing_alg,omitempty"`

	// AccessTokenTTL is the lifetime of access tokens. Default: 1h.
	AccessTokenTTL caddy.Duration `json:"access_token_ttl,omitempty"`

	// RefreshTokenTTL is the lifetime of refresh tokens. Default: 720h (30 days).
	RefreshTokenTTL caddy.Duration `json:"refresh_token_ttl,omitempty"`

	// PersonalTokenTTL is the lifetime of personal access tokens. Default: 8760h (1 year).
	PersonalTokenTTL caddy.Duration `json:"personal_token_ttl,omitempty"`

	// SessionTTL is how long a browser session (login at /oauth/login) lasts without
	// being used. Default: 2h. However active, a session ends after 24h (or SessionTTL,
	// if longer).
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`

	// DeviceCodeTTL is how long a device authorization (RFC 8628: its device code and user
	// code) waits for the person to answer. Default: 10m.
	DeviceCodeTTL caddy.Duration `json:"device_code_ttl,omitempty"`

	// DevicePollInterval is the least time a device waits between polls of the token
	// endpoint (RFC 8628 interval; slow_down raises it by 5s for that device). Default: 5s.
	DevicePollInterval caddy.Duration `json:"device_poll_interval,omitempty"`

	// ImplicitGrant enables the implicit grant (response_type=token at
	// /oauth/authorize, the token in the redirect's fragment, no refresh token). Default:
	// off, as RFC 9700 advises.
	ImplicitGrant bool `json:"implicit_grant,omitempty"`

	// Audience is the `aud` of every access token. Default: the client id, as Laravel
	// Passport does.
	Audience []string `json:"audience,omitempty"`

	// Scopes are the scopes clients may request, with the descriptions the consent screen
	// shows.
	Scopes []ScopeConfig `json:"scopes,omitempty"`

	// DefaultScope is granted when a client requests no scope. Each must be defined.
	DefaultScope []string `json:"default_scope,omitempty"`

	// Clients are declared clients, created or updated in the store at every start.
	Clients []ClientConfig `json:"clients,omitempty"`

	// Users are the user providers, each with a unique name. Default: one builtin provider
	// named users. A provider named users (the default name) is the one clients that name
	// no provider use; if none is configured, a builtin one is added under that name.
	Users []UserProviderConfig `json:"users,omitempty"`

	// FreshAPITokenCookie, if set, turns on first-party cookie tokens (Passport's
	// CreateFreshApiToken): GET /oauth/fresh-api-token gives a logged-in browser a
	// 10-minute access token in an HttpOnly cookie of this name, and its CSRF value in
	// the readable XSRF-TOKEN cookie, for oauth_guard's `cookie` option. Default: off.
	FreshAPITokenCookie string `json:"fresh_api_token_cookie,omitempty"`

	// Templates is a folder whose layout.html, login.html, consent.html, error.html and device.html
	// (Go html/template) replace the built-in pages of those names; absent files keep
	// the built-in ones. A template that does not parse is refused at load, with its file
	// and line. See docs/templates.md for the data each page gets. Default: none.
	Templates string `json:"templates,omitempty"`

	// LoginThrottle limits failed logins (password grant and login page) per username and
	// per client IP. Default: 10 per username and 50 per IP in 15-minute windows.
	LoginThrottle *LoginThrottleConfig `json:"login_throttle,omitempty"`

	// TokenRateLimit limits requests to /oauth/token per client IP (before anything else)
	// and per authenticated client, in this process, as Passport's throttle middleware
	// does; over a limit: 429 temporarily_unavailable with Retry-After. Default: 1200 per
	// client and 1200 per IP a minute.
	TokenRateLimit *TokenRateLimitConfig `json:"token_rate_limit,omitempty"`

	// RevokePreviousTokens makes every new user token (password or refresh_token grant)
	// revoke the user's other tokens for the same client, and their refresh tokens, so a
	// user keeps one live grant per client. Personal access tokens and client tokens are
	// not affected. Default: off.
	RevokePreviousTokens bool `json:"revoke_previous_tokens,omitempty"`

	// PurgeInterval, if set, deletes expired tokens and authorization codes, and the
	// revocation log entries of expired tokens, this often, as `caddy oauth purge
	// --expired` does. Revoked tokens go once they expire (keeping them until then keeps
	// refresh token reuse detection working). One purger runs per store and interval,
	// however many sites share them. Default: 0, never (use `caddy oauth purge`).
	PurgeInterval caddy.Duration `json:"purge_interval,omitempty"`

	// PassportAppKey is the APP_KEY of the Laravel application whose Passport tokens were
	// imported (`caddy oauth import passport`), usually given as {env.APP_KEY}: as
	// Laravel writes it ("base64:" and the key) or the raw key of older applications.
	// With it, a refresh token Passport issued is decrypted at /oauth/token, matched to
	// its imported row and rotated into one of this server's, so nobody signs in again.
	// Decrypting costs about 30 ms of CPU (100,000 PBKDF2 rounds); at most half the CPUs
	// decrypt at once. Default: none (such tokens get invalid_grant).
	PassportAppKey string `json:"passport_app_key,omitempty"`

	// RequireDPoPNonce makes /oauth/token and /oauth/par accept a DPoP proof (RFC 9449)
	// only with a nonce the server issued in the last 5 minutes (§8): a proof without one
	// gets 400 use_dpop_nonce with a fresh nonce in the DPoP-Nonce header, and every
	// answer to a request with a proof carries the next one. Nonces are keyed from the
	// signing key, so all nodes sharing the store accept each other's; after a key
	// rotation, a nonce older than the previous key gets use_dpop_nonce and the client
	// retries. Default: off (proofs need no nonce).
	RequireDPoPNonce bool `json:"require_dpop_nonce,omitempty"`

	// KeyEncryptionKeys encrypt the private signing keys kept in the store (AES-256-GCM),
	// usually one placeholder such as {env.OAUTH_KEY_ENCRYPTION_KEY}: each the standard
	// base64 of 32 random bytes (`openssl rand -base64 32`). The first encrypts; the
	// others, previous keys kept during a rotation, only decrypt, and what they encrypted
	// is encrypted again with the first at the next start. Keys stored in the clear are
	// encrypted at the first start with it. A store key that none of them opens stops the
	// start, naming the key. Keys from `keys` (a folder or PEM content) are not in the
	// store and not affected. Default: none (keys stored in the clear).
	KeyEncryptionKeys []string `json:"key_encryption_key,omitempty"`

	// TLSClientAuthTrustedCA are PEM files of the certificate authorities whose client
	// certificates tls_client_auth clients authenticate with (RFC 8705 §2.1): a client's
	// certificate must chain to one of them, be valid at the time and allow client
	// authentication, then carry the client's registered subject or SAN. Placeholders are
	// replaced; the files are read at load. The certificate reaches the server only if the
	// site asks for one: `tls { client_auth { mode request } }` (or a stricter mode).
	// self_signed_tls_client_auth clients and certificate-bound tokens need none. Default:
	// none (tls_client_auth clients cannot authenticate, and the metadata does not offer
	// the method).
	TLSClientAuthTrustedCA []string `json:"tls_client_auth_trusted_ca,omitempty"`

	server *authserver.Server
	// config is what server was built from; tests compare it with the command line's.
	config authserver.Config
	// resources are the pooled store, keys, databases and purger this config holds,
	// released at Cleanup.
	resources *pooledResources
	logger    *zap.Logger
	ctx       caddy.Context
	eventsApp *caddyevents.App
}

// StorageConfig selects the store driver.
type StorageConfig struct {
	// Driver is "sqlite" or "postgres"; a sql user provider's database may also be
	// "mysql" (MySQL or MariaDB).
	Driver string `json:"driver"`
	// DSN is the SQLite file path, the PostgreSQL connection string, or for "mysql" a
	// mysql://user:pass@host:port/db URL or the Go driver's user:pass@tcp(host:port)/db.
	// Placeholders such as {env.DATABASE_URL} are replaced at provisioning.
	DSN string `json:"dsn,omitempty"`
}

// LoginThrottleConfig sets the limits of failed logins. Counts are kept in the store, so
// they hold across every node sharing it.
type LoginThrottleConfig struct {
	// PerUsername is how many failed logins a username may have per window from one
	// address, and how many addresses may fail for it before addresses new to the user are
	// refused for it (see authserver.LoginThrottle). Default: 10; -1: no limit.
	PerUsername int `json:"per_username,omitempty"`
	// PerIP is how many failed logins a client IP (an IPv6 /64) may have per window,
	// whatever the usernames. Default: 50; -1: no limit.
	PerIP int `json:"per_ip,omitempty"`
	// Window is the length of a counting window; a username or IP over its limit is
	// refused (429, Retry-After) until the window ends. Default: 15m.
	Window caddy.Duration `json:"window,omitempty"`
}

// TokenRateLimitConfig sets the token endpoint's request limits.
type TokenRateLimitConfig struct {
	// PerClient is how many token requests an authenticated client may make per window.
	// Default: 1200; -1: no limit.
	PerClient int `json:"per_client,omitempty"`
	// PerIP is how many token requests a client IP (an IPv6 /64) may make per window.
	// Default: 1200; -1: no limit.
	PerIP int `json:"per_ip,omitempty"`
	// Window is the length of a counting window. Default: 1m.
	Window caddy.Duration `json:"window,omitempty"`
}

// limit resolves the configuration into authserver's terms: defaults filled, -1 as no
// limit (0 there).
func (c *TokenRateLimitConfig) limit() authserver.TokenRateLimit {
	l := authserver.DefaultTokenRateLimit
	if c == nil {
		return l
	}
	for _, v := range []struct {
		set int
		dst *int
	}{{c.PerClient, &l.PerClient}, {c.PerIP, &l.PerIP}} {
		switch {
		case v.set < 0:
			*v.dst = 0
		case v.set > 0:
			*v.dst = v.set
		}
	}
	if c.Window > 0 {
		l.Window = time.Duration(c.Window)
	}
	return l
}

// ScopeConfig defines one scope.
type ScopeConfig struct {
	// Name is the scope as clients request it.
	Name string `json:"name"`
	// Description is shown to users on the consent screen.
	Description string `json:"description,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Server) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.oauth_server",
		New: func() caddy.Module { return new(Server) },
	}
}

// Provision checks the configuration, opens the store, loads the keys, builds the user
// providers, writes the declared clients and builds the protocol server: the same path
// the command line takes (serverConfig), plus what only a running Caddy has. On failure,
// Caddy calls Cleanup, which releases what was opened.
func (s *Server) Provision(ctx caddy.Context) error {
	s.ctx, s.logger = ctx, ctx.Logger()
	s.resources = &pooledResources{logger: s.logger}
	if err := s.provision(ctx); err != nil {
		return fmt.Errorf("oauth_server: %w", err)
	}
	return nil
}

func (s *Server) provision(ctx caddy.Context) error {
	repl := caddy.NewReplacer()
	set, err := s.settings(repl, nil)
	if err != nil {
		return err
	}
	openCtx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
	defer cancel()
	st, err := openStorage(openCtx, set, s.resources)
	if err != nil {
		return err
	}
	cfg, err := serverConfig(openCtx, set, st, s.resources, nil)
	if err != nil {
		return err
	}
	if err := s.writeDeclaredClients(openCtx, st, set, repl); err != nil {
		return err
	}
	revoked, err := s.revokeUndeclaredClients(openCtx, st, set)
	for id, tokens := range revoked {
		s.logger.Info("revoked a client no longer declared in the configuration, with its tokens",
			zap.String("client_id", id), zap.Int("access_tokens", tokens))
	}
	if err != nil {
		return err
	}
	if set.purgeInterval > 0 {
		if err := s.resources.startPurger(st, set.storage, set.purgeInterval); err != nil {
			return fmt.Errorf("purge_interval: %w", err)
		}
	}
	if err := s.joinCaddy(ctx, &cfg); err != nil {
		return err
	}
	s.warnIfIssuerUnset(set)
	if s.server, err = authserver.New(cfg); err != nil {
		return err
	}
	s.config = cfg
	return nil
}

// joinCaddy connects the server to what Caddy offers: its logger, its events app (to
// announce tokens, and to end held long polls when the config stops), its metrics
// registry and the client IP it determined.
func (s *Server) joinCaddy(ctx caddy.Context, cfg *authserver.Config) error {
	if app, err := ctx.App("events"); err == nil {
		s.eventsApp, _ = app.(*caddyevents.App)
	}
	if s.eventsApp != nil {
		// Caddy announces "stopping" before it shuts the HTTP servers down gracefully,
		// which waits for every request in flight: held feed long polls must end first.
		if err := s.eventsApp.On("stopping", caddyevents.Handler(shutdownOnStop{s})); err != nil {
			return fmt.Errorf("subscribing to the stopping event: %w", err)
		}
	}
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		pm, err := authserver.NewPrometheusMetrics(reg)
		if err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
		cfg.Metrics = pm
	}
	cfg.Logger = s.logger
	cfg.OnEvent = s.emit
	cfg.OnAccessTokenIssued = issuedTokens.issued
	cfg.ClientIP = caddyClientIP
	return nil
}

// warnIfIssuerUnset says what the default issuer costs. The contract allows it (the
// default is the site's own origin), but the handler cannot see its site's host
// matchers, so it cannot tell a catch-all site from one bound to a name.
func (s *Server) warnIfIssuerUnset(set *serverSettings) {
	if set.issuer != "" {
		return
	}
	s.logger.Warn("issuer is not set: the iss of tokens and the metadata follow each request's Host header; " +
		"on a site that answers any host (a catch-all address such as :443, or a wildcard) a caller chooses the iss of the tokens it gets; " +
		"set issuer to this site's origin, e.g. https://auth.example.com")
}

// shutdownOnStop ends the server's held long polls when its config stops.
type shutdownOnStop struct{ s *Server }

// Handle implements caddyevents.Handler.
func (h shutdownOnStop) Handle(context.Context, caddy.Event) error {
	if h.s.server != nil {
		h.s.server.Shutdown()
	}
	return nil
}

// emit forwards a server event to Caddy's events app.
func (s *Server) emit(_ context.Context, name string, data map[string]any) {
	if s.eventsApp != nil {
		s.eventsApp.Emit(s.ctx, name, data)
	}
}

// errNotProvisioned is Validate's answer before a successful Provision.
var errNotProvisioned = errors.New("oauth_server: not provisioned")

// Validate checks what Provision cannot know is wrong until it runs.
func (s *Server) Validate() error {
	if s.server == nil {
		return errNotProvisioned
	}
	return nil
}

// Cleanup ends held long polls and releases the purger, the user databases, the key
// ring and the store, the last opened first. It goes on past a failed release, and is
// safe after a failed Provision: only what was opened is released.
func (s *Server) Cleanup() error {
	if s.server != nil {
		s.server.Shutdown()
	}
	if s.resources == nil {
		return nil
	}
	if err := s.resources.release(); err != nil {
		return fmt.Errorf("oauth_server: %w", err)
	}
	return nil
}

// ServeHTTP answers the server's endpoints and passes everything else on.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !s.server.Handles(r.URL.Path) {
		return next.ServeHTTP(w, r)
	}
	s.server.ServeHTTP(w, r)
	return nil
}

// throttle turns the config into the server's limits; nil means the defaults.
func (c *LoginThrottleConfig) throttle() authserver.LoginThrottle {
	if c == nil {
		return authserver.LoginThrottle{}
	}
	return authserver.LoginThrottle{PerUsername: c.PerUsername, PerIP: c.PerIP, Window: time.Duration(c.Window)}
}

// caddyClientIP is the client IP Caddy determined for the request, which honours the
// server's trusted_proxies.
func caddyClientIP(r *http.Request) string {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return ip
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Server)(nil)
	_ caddy.Validator             = (*Server)(nil)
	_ caddy.CleanerUpper          = (*Server)(nil)
	_ caddyhttp.MiddlewareHandler = (*Server)(nil)
)
