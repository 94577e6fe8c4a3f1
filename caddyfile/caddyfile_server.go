package caddyfile

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddyoauth/caddy-oauth/caddymodule"
	"github.com/caddyoauth/caddy-oauth/store"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("oauth_server", parseServer)
	httpcaddyfile.RegisterHandlerDirective("oauth_guard", parseGuard)
	// The guard checks tokens like basic_auth does; the server comes just before it so
	// its own endpoints are never guarded when both share a site.
	httpcaddyfile.RegisterDirectiveOrder("oauth_guard", httpcaddyfile.After, "basic_auth")
	httpcaddyfile.RegisterDirectiveOrder("oauth_server", httpcaddyfile.After, "basic_auth")
}

func parseServer(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(caddymodule.Server)
	err := unmarshalServer(s, h.Dispenser)
	return s, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	oauth_server {
//		issuer             <url>
//		storage            sqlite [<file>] | postgres <dsn>
//		keys               <dir> | <PEM>        # PEM content, e.g. {env.PASSPORT_PRIVATE_KEY}
//		signing_alg        ES256 | RS256 | EdDSA
//		access_token_ttl   <duration>
//		refresh_token_ttl  <duration>
//		personal_token_ttl <duration>
//		session_ttl        <duration>
//		device_code_ttl    <duration>
//		device_poll_interval <duration>
//		implicit_grant
//		audience           <aud...>
//		scope              <name> <description...>
//		default_scope      <name...>
//		users              [<name>] builtin
//		users              [<name>] sql {
//			database mysql <dsn> | postgres <dsn> | sqlite <file>
//			query    <sql>
//			username_query <sql> | off
//			claims_query   <sql> | off
//		}
//		fresh_api_token_cookie <name>
//		templates          <dir>
//		login_throttle {
//			per_username <n> | off
//			per_ip       <n> | off
//			window       <duration>
//		}
//		token_rate_limit {
//			per_client <n> | off
//			per_ip     <n> | off
//			window     <duration>
//		}
//		revoke_previous_tokens
//		dpop_nonce                      # DPoP proofs need a server nonce (RFC 9449 §8)
//		purge_interval     <duration>
//		passport_app_key   <APP_KEY>
//		key_encryption_key <key> [<previous key>...]
//		tls_client_auth_trusted_ca <pem-file...>   # CAs of tls_client_auth clients (RFC 8705)
//		client <id> {
//			secret       <secret>
//			name         <name...>
//			grants       <grant...>    # device_code: the device grant's URN
//			redirect_uri <uri...>
//			post_logout_redirect_uri <uri...>
//			provider     <name>
//			first_party
//			introspect
//			require_pushed_authorization_requests
//			require_dpop                  # every token request must carry a DPoP proof (RFC 9449)
//			auth_method  private_key_jwt   # RFC 7523: a JWT signed by the client's key; no secret
//			jwks         <file | `{"keys":[...]}`>  # its public keys: a file, or inline JSON
//			jwks_uri     <https-url>       # or where it publishes them
//			auth_method  tls_client_auth   # RFC 8705: a TLS client certificate from a trusted CA, named by one of:
//			tls_client_auth_subject_dn <dn>   # e.g. "CN=app,O=Example,C=DE"
//			tls_client_auth_san_dns    <name>
//			tls_client_auth_san_uri    <uri>
//			tls_client_auth_san_ip     <ip>
//			tls_client_auth_san_email  <address>
//			auth_method  self_signed_tls_client_auth  # a TLS client certificate whose key is in jwks / jwks_uri
//			certificate_bound_tokens       # RFC 8705 §3: tokens bound to the TLS client certificate
//		}
//	}
//
// Without issuer, the iss of tokens and the metadata follow each request's Host header
// (the contract's default: the site's own origin). The handler cannot see its site's
// host matchers, so on a site that answers any host (a catch-all address such as :443,
// or a wildcard) a caller would choose the iss of its tokens: set issuer there; Provision
// logs a warning whenever it is unset. Behind a proxy that ends TLS, an https issuer is
// also what makes the browser cookies Secure.
//
// users may be repeated to configure several named providers. Without a name, `users
// builtin` and `users sql { ... }` configure the default provider, named users, which
// clients that name no provider use. A name (any word but builtin and sql) adds another
// provider, which password clients select with `provider <name>` (or `caddy oauth client
// --provider <name>`); the tokens they get carry it in the provider claim, and
// oauth_guard's provider option accepts only those. For example:
//
//	users builtin                          # the default provider "users": the store's users
//	users customers sql {                  # provider "customers": a Laravel users table
//		database mysql {env.DB_URL}          # mysql://user:pass@host:3306/db or user:pass@tcp(host:3306)/db
//		query    "SELECT id, password FROM users WHERE email = $1"
//	}
//
// A sql provider reads the oauth_server's own storage unless database names another
// one (mysql for MySQL and MariaDB, postgres, or sqlite); its query takes the username
// as $1 on every driver and returns the id and the password hash.
//
// A client's redirect_uri values follow the operator policy
// (authserver.OperatorRedirectURIs): plain http to any host and any private-use scheme
// are accepted, on purpose, unlike in the JSON API where end users register clients.
//
// Parsing checks the syntax only; values (the storage driver, signing_alg, scopes, user
// providers, clients) are checked when the handler is provisioned, where the JSON config
// is checked too, so both are refused in the same words.
func unmarshalServer(s *caddymodule.Server, d *cfparse.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "issuer":
			if err := oneArg(d, &s.Issuer); err != nil {
				return err
			}
		case "storage":
			// The driver and whether it needs a DSN are checked at provisioning, where the
			// JSON config is checked too (caddymodule's server settings).
			args := d.RemainingArgs()
			if len(args) == 0 || len(args) > 2 {
				return d.Errf("storage: want 'sqlite [<file>]' or 'postgres <dsn>'")
			}
			s.Storage = &caddymodule.StorageConfig{Driver: args[0]}
			if len(args) == 2 {
				s.Storage.DSN = args[1]
			}
		case "keys":
			if err := oneArg(d, &s.KeysDir); err != nil {
				return err
			}
		case "signing_alg":
			// The algorithm is checked at provisioning, with the JSON config's.
			if err := oneArg(d, &s.SigningAlg); err != nil {
				return err
			}
		case "implicit_grant":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.ImplicitGrant = true
		case "access_token_ttl", "refresh_token_ttl", "personal_token_ttl", "session_ttl", "device_code_ttl", "device_poll_interval":
			var raw string
			if err := oneArg(d, &raw); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(raw)
			if err != nil || dur <= 0 {
				return d.Errf("%s: %q is not a positive duration", opt, raw)
			}
			switch opt {
			case "access_token_ttl":
				s.AccessTokenTTL = caddy.Duration(dur)
			case "refresh_token_ttl":
				s.RefreshTokenTTL = caddy.Duration(dur)
			case "session_ttl":
				s.SessionTTL = caddy.Duration(dur)
			case "device_code_ttl":
				s.DeviceCodeTTL = caddy.Duration(dur)
			case "device_poll_interval":
				s.DevicePollInterval = caddy.Duration(dur)
			default:
				s.PersonalTokenTTL = caddy.Duration(dur)
			}
		case "audience":
			s.Audience = append(s.Audience, d.RemainingArgs()...)
			if len(s.Audience) == 0 {
				return d.ArgErr()
			}
		case "scope":
			args := d.RemainingArgs()
			if len(args) < 1 {
				return d.Errf("scope: want <name> <description...>")
			}
			s.Scopes = append(s.Scopes, caddymodule.ScopeConfig{Name: args[0], Description: strings.Join(args[1:], " ")})
		case "default_scope":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("default_scope: at least one scope name is required")
			}
			s.DefaultScope = append(s.DefaultScope, args...)
		case "users":
			u, err := parseUsers(d)
			if err != nil {
				return err
			}
			s.Users = append(s.Users, u)
		case "fresh_api_token_cookie":
			if err := oneArg(d, &s.FreshAPITokenCookie); err != nil {
				return err
			}
		case "templates":
			if err := oneArg(d, &s.Templates); err != nil {
				return err
			}
		case "login_throttle":
			lt, err := parseLoginThrottle(d)
			if err != nil {
				return err
			}
			s.LoginThrottle = lt
		case "token_rate_limit":
			tl, err := parseTokenRateLimit(d)
			if err != nil {
				return err
			}
			s.TokenRateLimit = tl
		case "revoke_previous_tokens":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.RevokePreviousTokens = true
		case "dpop_nonce":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.RequireDPoPNonce = true
		case "purge_interval":
			var raw string
			if err := oneArg(d, &raw); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(raw)
			if err != nil || dur <= 0 {
				return d.Errf("purge_interval: %q is not a positive duration", raw)
			}
			s.PurgeInterval = caddy.Duration(dur)
		case "key_encryption_key":
			s.KeyEncryptionKeys = d.RemainingArgs()
			if len(s.KeyEncryptionKeys) == 0 {
				return d.ArgErr()
			}
		case "tls_client_auth_trusted_ca":
			files := d.RemainingArgs()
			if len(files) == 0 {
				return d.Errf("tls_client_auth_trusted_ca: at least one PEM file is required")
			}
			s.TLSClientAuthTrustedCA = append(s.TLSClientAuthTrustedCA, files...)
		case "passport_app_key":
			if err := oneArg(d, &s.PassportAppKey); err != nil {
				return err
			}
		case "client":
			c, err := parseClient(d)
			if err != nil {
				return err
			}
			s.Clients = append(s.Clients, c)
		default:
			return d.Errf("oauth_server: unknown option %q", opt)
		}
	}
	return nil
}

func parseClient(d *cfparse.Dispenser) (caddymodule.ClientConfig, error) {
	var c caddymodule.ClientConfig
	if !d.NextArg() {
		return c, d.Errf("client: an id is required")
	}
	c.ID = d.Val()
	if d.NextArg() {
		return c, d.ArgErr()
	}
	for d.NextBlock(1) {
		opt := d.Val()
		switch opt {
		case "secret":
			if err := oneArg(d, &c.Secret); err != nil {
				return c, err
			}
		case "name":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return c, d.ArgErr()
			}
			c.Name = strings.Join(args, " ")
		case "grants", "redirect_uri", "post_logout_redirect_uri":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return c, d.Errf("client %s: %s: at least one value is required", c.ID, opt)
			}
			switch opt {
			case "grants":
				for _, g := range args {
					c.Grants = append(c.Grants, caddymodule.ClientGrant(g))
				}
			case "redirect_uri":
				c.RedirectURIs = append(c.RedirectURIs, args...)
			default:
				c.PostLogoutRedirectURIs = append(c.PostLogoutRedirectURIs, args...)
			}
		case "provider":
			if err := oneArg(d, &c.Provider); err != nil {
				return c, err
			}
		case "first_party":
			c.FirstParty = true
		case "introspect":
			c.Introspect = true
		case "require_pushed_authorization_requests":
			c.RequirePAR = true
		case "require_dpop":
			if d.NextArg() {
				return c, d.ArgErr()
			}
			c.RequireDPoP = true
		case "auth_method":
			if err := oneArg(d, &c.AuthMethod); err != nil {
				return c, err
			}
			switch c.AuthMethod {
			case store.TokenAuthPrivateKeyJWT, store.TokenAuthTLSClient, store.TokenAuthSelfSignedTLSClient:
			default:
				return c, d.Errf("client %s: auth_method %q: must be %s, %s or %s (a client with a secret needs no auth_method)",
					c.ID, c.AuthMethod, store.TokenAuthPrivateKeyJWT, store.TokenAuthTLSClient, store.TokenAuthSelfSignedTLSClient)
			}
		case "tls_client_auth_subject_dn", "tls_client_auth_san_dns", "tls_client_auth_san_uri", "tls_client_auth_san_ip", "tls_client_auth_san_email":
			// Whether only one is given, and its value, are checked at provisioning, with
			// the JSON config.
			dst := map[string]*string{
				"tls_client_auth_subject_dn": &c.TLSClientAuthSubjectDN,
				"tls_client_auth_san_dns":    &c.TLSClientAuthSANDNS,
				"tls_client_auth_san_uri":    &c.TLSClientAuthSANURI,
				"tls_client_auth_san_ip":     &c.TLSClientAuthSANIP,
				"tls_client_auth_san_email":  &c.TLSClientAuthSANEmail,
			}[opt]
			if err := oneArg(d, dst); err != nil {
				return c, err
			}
		case "certificate_bound_tokens":
			if d.NextArg() {
				return c, d.Errf("client %s: certificate_bound_tokens takes no value", c.ID)
			}
			c.CertBoundTokens = true
		case "jwks":
			var v string
			if err := oneArg(d, &v); err != nil {
				return c, err
			}
			// A JWK Set is a JSON object; anything else names a file, read when the
			// config is loaded (parsing does no I/O).
			if strings.HasPrefix(strings.TrimSpace(v), "{") {
				c.JWKS = v
			} else {
				c.JWKSFile = v
			}
		case "jwks_uri":
			if err := oneArg(d, &c.JWKSURI); err != nil {
				return c, err
			}
		default:
			return c, d.Errf("client %s: unknown option %q", c.ID, opt)
		}
	}
	return c, nil
}

// parseLoginThrottle reads the login_throttle block.
func parseLoginThrottle(d *cfparse.Dispenser) (*caddymodule.LoginThrottleConfig, error) {
	lt := &caddymodule.LoginThrottleConfig{}
	err := parseLimits(d, "login_throttle", map[string]*int{"per_username": &lt.PerUsername, "per_ip": &lt.PerIP}, &lt.Window)
	return lt, err
}

// parseTokenRateLimit reads the token_rate_limit block.
func parseTokenRateLimit(d *cfparse.Dispenser) (*caddymodule.TokenRateLimitConfig, error) {
	tl := &caddymodule.TokenRateLimitConfig{}
	err := parseLimits(d, "token_rate_limit", map[string]*int{"per_client": &tl.PerClient, "per_ip": &tl.PerIP}, &tl.Window)
	return tl, err
}

// parseLimits reads a block of counts (a positive number, or off for -1) and a window,
// the shape of login_throttle and token_rate_limit.
func parseLimits(d *cfparse.Dispenser, directive string, counts map[string]*int, window *caddy.Duration) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(1) {
		opt := d.Val()
		var raw string
		if err := oneArg(d, &raw); err != nil {
			return err
		}
		if dst, ok := counts[opt]; ok {
			*dst = -1
			if raw != "off" {
				v, err := strconv.Atoi(raw)
				if err != nil || v <= 0 {
					return d.Errf("%s: %s: %q is not a positive number or off", directive, opt, raw)
				}
				*dst = v
			}
			continue
		}
		if opt != "window" {
			return d.Errf("%s: unknown option %q", directive, opt)
		}
		dur, err := caddy.ParseDuration(raw)
		if err != nil || dur <= 0 {
			return d.Errf("%s: window: %q is not a positive duration", directive, raw)
		}
		*window = caddy.Duration(dur)
	}
	return nil
}

// parseUsers reads `users [<name>] builtin` or `users [<name>] sql { ... }`.
func parseUsers(d *cfparse.Dispenser) (caddymodule.UserProviderConfig, error) {
	var u caddymodule.UserProviderConfig
	args := d.RemainingArgs()
	switch len(args) {
	case 1:
		u.Kind = args[0]
	case 2:
		u.Name, u.Kind = args[0], args[1]
		if u.Name == "builtin" || u.Name == "sql" {
			return u, d.Errf("users: %q cannot name a provider", u.Name)
		}
	default:
		return u, d.Errf("users: want '[<name>] builtin' or '[<name>] sql { ... }'")
	}
	switch u.Kind {
	case "builtin":
		if d.NextBlock(1) {
			return u, d.Errf("users %s: builtin takes no options", u.ProviderName())
		}
		return u, nil
	case "sql":
	default:
		return u, d.Errf("users: kind %q: must be builtin or sql", u.Kind)
	}
	for d.NextBlock(1) {
		opt := d.Val()
		switch opt {
		case "database":
			// The driver is checked at provisioning, as the server's storage is.
			args := d.RemainingArgs()
			if len(args) != 2 {
				return u, d.Errf("users %s: database: want 'mysql <dsn>', 'postgres <dsn>' or 'sqlite <file>'", u.ProviderName())
			}
			u.Database = &caddymodule.StorageConfig{Driver: args[0], DSN: args[1]}
		case "query":
			if err := oneArg(d, &u.Query); err != nil {
				return u, err
			}
		case "username_query":
			if err := oneArg(d, &u.UsernameQuery); err != nil {
				return u, err
			}
		case "claims_query":
			if err := oneArg(d, &u.ClaimsQuery); err != nil {
				return u, err
			}
		default:
			return u, d.Errf("users %s: unknown option %q", u.ProviderName(), opt)
		}
	}
	return u, nil
}

// oneArg reads exactly one argument of the current option.
func oneArg(d *cfparse.Dispenser, dst *string) error {
	opt := d.Val()
	if !d.NextArg() {
		return d.Errf("%s: a value is required", opt)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s: takes one value, got another: %q", opt, d.Val())
	}
	return nil
}
