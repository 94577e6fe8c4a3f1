// Package authserver is the OAuth 2.0 authorization server: a file per grant and per
// endpoint, in the order of the RFCs. It imports no Caddy package, so every flow is
// testable with net/http/httptest; the caddymodule package wires it into Caddy.
package authserver

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
)

// Endpoint paths served by the Server.
const (
	PathToken       = "/oauth/token"
	PathIntrospect  = "/oauth/introspect"
	PathRevoke      = "/oauth/revoke"
	PathRevocations = "/oauth/revocations"
	PathScopes      = "/oauth/scopes"
	PathMetadata    = "/.well-known/oauth-authorization-server"
	PathJWKS        = "/.well-known/jwks.json"
	PathAuthorize   = "/oauth/authorize"
	PathLogin       = "/oauth/login"
	PathLogout      = "/oauth/logout"
	// PathOpenIDConfiguration is OpenID Connect Discovery's document.
	PathOpenIDConfiguration = "/.well-known/openid-configuration"
	// PathUserinfo is OpenID Connect's userinfo endpoint.
	PathUserinfo = "/oauth/userinfo"
	// PathDeviceAuthorization is where a device asks for a device code and a user code
	// (RFC 8628 §3.1, device_authorization_endpoint in the metadata).
	PathDeviceAuthorization = "/oauth/device/code"
	// PathDevice is the verification page where a person enters the user code and
	// approves the device (RFC 8628 §3.3, the verification_uri).
	PathDevice = "/oauth/device"
	// PathPAR is the pushed authorization request endpoint (RFC 9126 §2,
	// pushed_authorization_request_endpoint in the metadata).
	PathPAR = "/oauth/par"
)

// Grant types a client may be allowed (store.Client.Grants), as the token endpoint's
// grant_type names them.
const (
	// GrantAuthorizationCode is the authorization code grant (RFC 6749 §4.1, with PKCE).
	GrantAuthorizationCode = "authorization_code"
	// GrantClientCredentials is the client credentials grant (RFC 6749 §4.4).
	GrantClientCredentials = "client_credentials"
	// GrantPassword is the resource owner password credentials grant (RFC 6749 §4.3).
	GrantPassword = "password"
	// GrantRefreshToken is the refresh token grant (RFC 6749 §6).
	GrantRefreshToken = "refresh_token"
	// GrantImplicit is the implicit grant (RFC 6749 §4.2, response_type=token at the
	// authorization endpoint). A client has it only if declared so, only as a public
	// client, and only while the server's implicit_grant option is on.
	GrantImplicit = "implicit"
	// GrantDeviceCode is the device authorization grant (RFC 8628): the device polls the
	// token endpoint with a device code while a person approves it at PathDevice.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// Event names announced through Config.OnEvent.
const (
	EventAccessTokenCreated  = "oauth_access_token_created"
	EventRefreshTokenCreated = "oauth_refresh_token_created"
	EventTokenRevoked        = "oauth_token_revoked"
)

// Config is everything a Server needs. Store, Keys and Scopes are required.
type Config struct {
	// Pages are the login, consent and error pages' templates; nil: the built-in ones.
	Pages *PageTemplates
	// Issuer is the iss of every token; empty derives it from each request's origin.
	Issuer string
	// Audience is the aud of every token; empty puts the client id there, as Passport does.
	Audience []string
	// Store is where everything is kept. Each flow uses only the part of it declared in
	// its *_storage.go file.
	Store store.Store
	// Keys signs the access tokens and verifies them at introspection and revocation.
	Keys *keys.Ring
	// Scopes are the scopes clients may ask for, with the descriptions the consent
	// screen shows.
	Scopes *scopes.Catalog
	// AccessTokenTTL, RefreshTokenTTL and PersonalTokenTTL are token lifetimes.
	AccessTokenTTL   time.Duration
	RefreshTokenTTL  time.Duration
	PersonalTokenTTL time.Duration
	// SessionTTL is how long a browser session lasts without being used. Default: 2h.
	// However active, a session ends after 24h (or SessionTTL, if longer).
	SessionTTL time.Duration
	// ImplicitGrant enables response_type=token at the authorization endpoint (RFC 6749
	// §4.2). Off by default: RFC 9700 §2.1.2 advises against it.
	ImplicitGrant bool
	// Providers maps a user provider name to its authenticator; clients name one.
	Providers map[string]UserProvider
	// LoginThrottle limits failed logins per username and per client address; zero
	// fields take their defaults.
	LoginThrottle LoginThrottle
	// ClientIP returns the address a request came from, for login throttling; nil or an
	// empty answer means the connection's peer. The Caddy glue passes Caddy's client IP,
	// which honours trusted_proxies.
	ClientIP func(r *http.Request) string
	// DeviceCodeTTL is how long a device code and its user code stay valid (RFC 8628
	// expires_in). Default: 10 minutes.
	DeviceCodeTTL time.Duration
	// DevicePollInterval is the least time a device must wait between two polls of the
	// token endpoint (RFC 8628 interval); each slow_down answer adds 5 s for that device
	// code. Default: 5 s.
	DevicePollInterval time.Duration
	// DeviceUserCodeThrottle limits wrong user codes entered on the device page (RFC 8628
	// §5.1); zero fields take their defaults.
	DeviceUserCodeThrottle DeviceUserCodeThrottle
	// FreshAPITokenCookie, if set, is the name of the HttpOnly cookie in which a
	// logged-in browser receives a short-lived first-party token (Passport's
	// CreateFreshApiToken) from GET /oauth/fresh-api-token. Empty: off.
	FreshAPITokenCookie string
	Logger              *zap.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnEvent, if set, is told about tokens created and revoked. Data never holds a token.
	OnEvent func(ctx context.Context, name string, data map[string]any)
	// Metrics, if set, counts tokens issued, introspections and revocations.
	Metrics Metrics
	// OnAccessTokenIssued, if set, is told about every access token once it is recorded,
	// with its issuer and the public key that verifies it. The Caddy glue hands it to the
	// oauth_guard handlers of the same process, which then need not check the signature
	// of a token they saw being made. It runs on the request's goroutine, so it must be
	// quick; it may keep the token's hash, never the token.
	OnAccessTokenIssued func(issuer, token string, signer crypto.PublicKey)
	// RevokePreviousTokens makes a new user token (password or refresh grant) revoke the
	// user's other tokens for the same client, and their refresh tokens: one live grant
	// per user and client. Personal access tokens are left alone.
	RevokePreviousTokens bool
	// TokenRateLimit bounds token endpoint requests per client and per address; nil means
	// DefaultTokenRateLimit, a zero PerClient or PerIP no limit of that kind.
	TokenRateLimit *TokenRateLimit
	// PassportAppKey is the decoded APP_KEY of the Laravel application whose Passport
	// tokens were imported (caddy oauth import passport): with it, a refresh token that
	// Passport issued is decrypted, matched to its imported row and rotated into one of
	// this server's. Empty: such tokens get invalid_grant.
	PassportAppKey []byte
	// RequireDPoPNonce makes the token and pushed authorization request endpoints accept
	// a DPoP proof only with a nonce this server issued in the last 5 minutes (RFC 9449
	// §8): a proof without one is refused with use_dpop_nonce and a fresh nonce in the
	// DPoP-Nonce header, and every answer to a DPoP request carries a new one. Nonces are
	// MACed with a key derived from the current signing key, so every node sharing the
	// keys accepts every node's nonces.
	RequireDPoPNonce bool
	// TLSClientAuthCAs are the certificate authorities whose client certificates
	// tls_client_auth clients may authenticate with (RFC 8705 §2.1): the certificate must
	// chain to one of them, be valid now and allow client authentication. nil: none, and
	// such clients cannot authenticate. self_signed_tls_client_auth clients need none.
	TLSClientAuthCAs *x509.CertPool

	// passportSlots and passportWait, when > 0, replace how many Passport refresh tokens
	// decrypt at once and how long one waits for its turn; only tests set them.
	passportSlots int
	passportWait  time.Duration
	// feedPage, when > 0, replaces the revocation feed's page size; only tests set it
	// (export_test.go), to page through a few entries instead of 50,000.
	feedPage int
}

// Server serves the authorization server's endpoints.
type Server struct {
	cfg       Config
	log       *zap.Logger
	now       func() time.Time
	usernames usernameCache
	callers   callerCache
	throttle  LoginThrottle
	// usernameLocks serialises password checks per username (login_throttle.go).
	usernameLocks *stripedLocks
	verified      verifiedCache
	// mirror is the revocation log as introspection knows it (revocation_mirror.go).
	mirror *revocationMirror
	// tokenLimit counts token endpoint requests (token_rate_limit.go).
	tokenLimit *tokenRateLimiter
	// passport rotates Laravel Passport's refresh tokens; nil without PassportAppKey.
	passport *passportRefreshTokens
	api      *http.ServeMux // the JSON API (api.go)
	// clientKeys holds private_key_jwt clients' key sets (client_assertion_keys.go).
	clientKeys *clientKeyCache
	// dpop checks DPoP proofs and issues their nonces (dpop_proof.go).
	dpop *dpopProofs

	// Each flow and endpoint reaches the store through the narrow interface declared
	// beside it (the *_storage.go files), so what it may touch is written next to it;
	// New sets every one to Config.Store.
	clientStore     clientAuthStorage
	issueStore      tokenIssueStorage
	codeGrantStore  authCodeGrantStorage
	refreshStore    refreshGrantStorage
	introspectStore introspectionStorage
	revokeStore     revocationStorage
	feedStore       revocationFeedStorage
	authorizeStore  authorizeStorage
	sessionStore    sessionStorage
	throttleStore   loginThrottleStorage
	apiStore        apiStorage
	personalStore   personalTokenStorage
	deviceAuthStore deviceAuthorizationStorage
	deviceStore     deviceCodeGrantStorage
	devicePageStore deviceUserPageStorage
	parStore        pushedAuthorizationStorage

	// closing ends held long polls when the server is shutting down, so a graceful stop
	// or a config reload does not wait for them.
	closing   chan struct{}
	closeOnce sync.Once
}

// Shutdown answers every held revocation-feed long poll at once (with nothing new, so
// callers reconnect, to the next config or another node) and makes later ones answer
// without waiting. Other endpoints keep working. Safe to call more than once.
func (s *Server) Shutdown() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// New checks the config and fills its defaults.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Keys == nil || cfg.Scopes == nil {
		return nil, errors.New("authserver: Store, Keys and Scopes are required")
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = time.Hour
	}
	if cfg.RefreshTokenTTL <= 0 {
		cfg.RefreshTokenTTL = 30 * 24 * time.Hour
	}
	if cfg.PersonalTokenTTL <= 0 {
		cfg.PersonalTokenTTL = 365 * 24 * time.Hour
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 2 * time.Hour
	}
	if cfg.Providers == nil {
		cfg.Providers = map[string]UserProvider{}
	}
	if _, ok := cfg.Providers[DefaultProvider]; !ok {
		cfg.Providers[DefaultProvider] = NewBuiltinUsers(cfg.Store)
	}
	if cfg.Issuer != "" {
		cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	}
	// The OpenID Connect scopes are always there.
	cfg.Scopes = cfg.Scopes.Including(openIDScopes)
	if cfg.DeviceCodeTTL <= 0 {
		cfg.DeviceCodeTTL = 10 * time.Minute
	}
	if cfg.DevicePollInterval <= 0 {
		cfg.DevicePollInterval = 5 * time.Second
	}
	cfg.DeviceUserCodeThrottle = cfg.DeviceUserCodeThrottle.withDefaults()
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	// The flows reach the store through a wrapper that tells the revocation mirror of
	// every revocation they make.
	mirror := &revocationMirror{st: cfg.Store}
	var st store.Store = revocationNotingStore{Store: cfg.Store, mirror: mirror}
	s := &Server{mirror: mirror, cfg: cfg, log: cfg.Logger, now: cfg.Now, closing: make(chan struct{}), throttle: cfg.LoginThrottle.withDefaults(),
		usernameLocks: newStripedLocks(), clientKeys: newClientKeyCache(),
		clientStore: st, issueStore: st, codeGrantStore: st, refreshStore: st, introspectStore: st, revokeStore: st,
		feedStore: st, authorizeStore: st, sessionStore: st, throttleStore: st, apiStore: st, personalStore: st,
		deviceAuthStore: st, deviceStore: st, devicePageStore: st, parStore: st}
	s.api = s.apiRoutes()
	s.dpop = newDPoPProofs(cfg.Store)
	limit := DefaultTokenRateLimit
	if cfg.TokenRateLimit != nil {
		limit = *cfg.TokenRateLimit
	}
	s.tokenLimit = newTokenRateLimiter(limit)
	s.passport = newPassportRefreshTokens(cfg.PassportAppKey, cfg.passportSlots, cfg.passportWait)
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	mirror.log, mirror.now, mirror.page = s.log, s.now, s.feedPage()
	return s, nil
}

// Handles reports whether path is one of the server's endpoints; other requests go on to
// the next handler.
func (s *Server) Handles(path string) bool {
	switch path {
	case PathToken, PathIntrospect, PathRevoke, PathRevocations, PathScopes, PathMetadata, PathJWKS,
		PathAuthorize, PathAuthorizationShortcut, PathLogin, PathLogout, PathDashboard,
		PathOpenIDConfiguration, PathUserinfo, PathDeviceAuthorization, PathDevice, PathPAR:
		return true
	case PathFreshAPIToken:
		return s.cfg.FreshAPITokenCookie != ""
	}
	return isAPIPath(path)
}

// ServeHTTP routes a request to its endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathToken:
		if r.Method == http.MethodOptions {
			serveClientPreflight(w, r)
		} else if s.allowMethods(w, r, http.MethodPost) {
			s.serveToken(w, r)
		}
	case PathIntrospect:
		if s.allowMethods(w, r, http.MethodPost) {
			s.serveIntrospect(w, r)
		}
	case PathRevoke:
		if r.Method == http.MethodOptions {
			serveClientPreflight(w, r)
		} else if s.allowMethods(w, r, http.MethodPost) {
			s.serveRevoke(w, r)
		}
	case PathRevocations:
		if s.allowMethods(w, r, http.MethodGet) {
			s.serveRevocations(w, r)
		}
	case PathMetadata, PathOpenIDConfiguration:
		if s.allowMethods(w, r, http.MethodGet, http.MethodHead) {
			s.serveMetadata(w, r)
		}
	case PathJWKS:
		if s.allowMethods(w, r, http.MethodGet, http.MethodHead) {
			s.serveJWKS(w, r)
		}
	case PathScopes:
		if s.allowMethods(w, r, http.MethodGet, http.MethodHead) {
			writeJSON(w, http.StatusOK, s.cfg.Scopes.Definitions())
		}
	case PathLogin:
		if s.allowMethods(w, r, http.MethodGet, http.MethodHead, http.MethodPost) {
			s.serveLogin(w, r)
		}
	case PathLogout:
		// GET is OpenID Connect RP-initiated logout (oidc_logout.go); POST the sign-out
		// form, ours or the logout confirmation's.
		if s.allowMethods(w, r, http.MethodGet, http.MethodPost) {
			s.serveLogout(w, r)
		}
	case PathUserinfo:
		if s.allowMethods(w, r, http.MethodGet, http.MethodPost, http.MethodOptions) {
			s.serveUserinfo(w, r)
		}
	case PathAuthorize:
		// Not HEAD: a GET here may issue a code.
		if s.allowMethods(w, r, http.MethodGet, http.MethodPost) {
			s.serveAuthorize(w, r)
		}
	case PathAuthorizationShortcut:
		if s.allowMethods(w, r, http.MethodGet) {
			s.serveAuthorizationShortcut(w, r)
		}
	case PathDeviceAuthorization:
		if s.allowMethods(w, r, http.MethodPost) {
			s.serveDeviceAuthorization(w, r)
		}
	case PathDevice:
		if s.allowMethods(w, r, http.MethodGet, http.MethodPost) {
			s.serveDevice(w, r)
		}
	case PathPAR:
		if s.allowMethods(w, r, http.MethodPost) {
			s.servePushedAuthorization(w, r)
		}
	case PathDashboard:
		if s.allowMethods(w, r, http.MethodGet, http.MethodHead) {
			s.serveDashboard(w, r)
		}
	case PathFreshAPIToken:
		if s.cfg.FreshAPITokenCookie == "" {
			http.NotFound(w, r)
		} else if s.allowMethods(w, r, http.MethodGet) {
			s.serveFreshAPIToken(w, r)
		}
	default:
		if isAPIPath(r.URL.Path) {
			s.api.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}
}

// allowMethods answers 405 with an Allow header when the method is not one of methods.
func (s *Server) allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	s.writeError(w, &Error{Code: "invalid_request", Description: fmt.Sprintf("method %s not allowed", r.Method), Status: http.StatusMethodNotAllowed})
	return false
}

// issuerFor returns the configured issuer, or the request's own origin.
func (s *Server) issuerFor(r *http.Request) string {
	if s.cfg.Issuer != "" {
		return s.cfg.Issuer
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// metrics returns where counts go.
func (s *Server) metrics() Metrics { return s.cfg.Metrics }

func (s *Server) emit(ctx context.Context, name string, data map[string]any) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ctx, name, data)
	}
}
