package caddyfile

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func parseGuard(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Guard)
	err := g.UnmarshalCaddyfile(h.Dispenser)
	return g, err
}

// UnmarshalCaddyfile sets up the guard from Caddyfile tokens. Syntax:
//
//	oauth_guard [<matcher>] {
//		jwks       <url | file>
//		issuer     <url>
//		audience   <aud...>
//		scopes     all|any <scope...>
//		subject    user | client | any
//		provider   <name>
//		cookie     <name>
//		header     <Name> <value-with-placeholders>
//		realm      <realm>
//		leeway     <duration>
//		cache_size <entries>
//	}
func (g *Guard) UnmarshalCaddyfile(d *cfparse.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "jwks":
			if err := oneArg(d, &g.JWKS); err != nil {
				return err
			}
		case "issuer":
			if err := oneArg(d, &g.Issuer); err != nil {
				return err
			}
		case "audience":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("audience: at least one value is required")
			}
			g.Audience = append(g.Audience, args...)
		case "scopes":
			args := d.RemainingArgs()
			if len(args) < 2 || (args[0] != "all" && args[0] != "any") {
				return d.Errf("scopes: want 'scopes all|any <scope...>'")
			}
			g.Scopes = append(g.Scopes, ScopeRuleConfig{Mode: args[0], Scopes: args[1:]})
		case "subject":
			if err := oneArg(d, &g.Subject); err != nil {
				return err
			}
			switch g.Subject {
			case "user", "client", "any":
			default:
				return d.Errf("subject: %q is not user, client or any", g.Subject)
			}
		case "provider":
			if err := oneArg(d, &g.Provider); err != nil {
				return err
			}
		case "cookie":
			if err := oneArg(d, &g.Cookie); err != nil {
				return err
			}
		case "header":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("header: want 'header <Name> <value>'")
			}
			if g.Headers == nil {
				g.Headers = map[string]string{}
			}
			g.Headers[args[0]] = args[1]
		case "realm":
			if err := oneArg(d, &g.Realm); err != nil {
				return err
			}
		case "leeway":
			var raw string
			if err := oneArg(d, &raw); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(raw)
			if err != nil || dur < 0 {
				return d.Errf("leeway: %q is not a duration", raw)
			}
			lw := caddy.Duration(dur)
			g.Leeway = &lw
		case "cache_size":
			var raw string
			if err := oneArg(d, &raw); err != nil {
				return err
			}
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || n <= 0 {
				return d.Errf("cache_size: %q is not a positive number", raw)
			}
			g.CacheSize = n
		default:
			return d.Errf("oauth_guard: unknown option %q", opt)
		}
	}
	return nil
}

var _ cfparse.Unmarshaler = (*Guard)(nil)
