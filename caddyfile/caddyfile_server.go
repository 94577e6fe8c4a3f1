package caddyfile

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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
	s := new(Server)
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	oauth_server {
//		issuer             <url>
//		storage            sqlite [<file>] | postgres <dsn>
//		keys               <dir>
//		signing_alg        ES256 | RS256 | EdDSA
//		access_token_ttl   <duration>
//		refresh_token_ttl  <duration>
//		personal_token_ttl <duration>
//		session_ttl        <duration>
//		implicit_grant
//		audience           <aud...>
//		scope              <name> <description...>
//		default_scope      <name...>
//		users              builtin
//		revoke_previous_tokens
//		purge_interval     <duration>
//		client <id> {
//			secret       <secret>
//			name         <name...>
//			grants       <grant...>
//			redirect_uri <uri...>
//			provider     <name>
//			first_party
//			introspect
//		}
//	}
func (s *Server) UnmarshalCaddyfile(d *cfparse.Dispenser) error {
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
			args := d.RemainingArgs()
			if len(args) == 0 || len(args) > 2 {
				return d.Errf("storage: want 'sqlite [<file>]' or 'postgres <dsn>'")
			}
			switch args[0] {
			case "sqlite":
				s.Storage = &StorageConfig{Driver: "sqlite"}
				if len(args) == 2 {
					s.Storage.DSN = args[1]
				}
			case "postgres":
				if len(args) != 2 {
					return d.Errf("storage postgres: a connection string is required")
				}
				s.Storage = &StorageConfig{Driver: "postgres", DSN: args[1]}
			default:
				return d.Errf("storage: unknown driver %q (want sqlite or postgres)", args[0])
			}
		case "keys":
			if err := oneArg(d, &s.KeysDir); err != nil {
				return err
			}
		case "signing_alg":
			if err := oneArg(d, &s.SigningAlg); err != nil {
				return err
			}
			switch s.SigningAlg {
			case "ES256", "RS256", "EdDSA":
			default:
				return d.Errf("signing_alg: %q is not ES256, RS256 or EdDSA", s.SigningAlg)
			}
		case "implicit_grant":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.ImplicitGrant = true
		case "access_token_ttl", "refresh_token_ttl", "personal_token_ttl", "session_ttl":
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
			s.Scopes = append(s.Scopes, ScopeConfig{Name: args[0], Description: strings.Join(args[1:], " ")})
		case "default_scope":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("default_scope: at least one scope name is required")
			}
			s.DefaultScope = append(s.DefaultScope, args...)
		case "users":
			var kind string
			if err := oneArg(d, &kind); err != nil {
				return err
			}
			if kind != "builtin" {
				return d.Errf("users: %q is not supported (only builtin)", kind)
			}
		case "revoke_previous_tokens":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.RevokePreviousTokens = true
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

func parseClient(d *cfparse.Dispenser) (ClientConfig, error) {
	var c ClientConfig
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
		case "grants", "redirect_uri":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return c, d.Errf("client %s: %s: at least one value is required", c.ID, opt)
			}
			if opt == "grants" {
				c.Grants = append(c.Grants, args...)
			} else {
				c.RedirectURIs = append(c.RedirectURIs, args...)
			}
		case "provider":
			if err := oneArg(d, &c.Provider); err != nil {
				return c, err
			}
		case "first_party":
			c.FirstParty = true
		case "introspect":
			c.Introspect = true
		default:
			return c, d.Errf("client %s: unknown option %q", c.ID, opt)
		}
	}
	return c, nil
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

var _ cfparse.Unmarshaler = (*Server)(nil)
