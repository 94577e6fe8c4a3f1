package caddyfile

import (
	"github.com/caddyoauth/caddy-oauth/caddymodule"

	"strconv"

	"github.com/caddyserver/caddy/v2"
	cfparse "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func parseGuard(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(caddymodule.Guard)
	err := unmarshalGuard(g, h.Dispenser)
	return g, err
}

// UnmarshalCaddyfile sets up the guard from Caddyfile tokens. Syntax:
//
//	oauth_guard [<matcher>] {
//		jwks       <url | file>
//		introspect <url> {
//			client_id           <id>
//			client_secret       <secret>
//			token_url           <url>
//			cache_ttl           <duration>
//			negative_cache_ttl  <duration>
//			negative_cache_size <entries>
//			timeout             <duration>
//		}
//		revocations <url> [{
//			client_id     <id>        # default: those of introspect
//			client_secret <secret>
//			token_url     <url>
//			behind_after  <duration>
//		}]
//		passport_revocations mysql|postgres|sqlite <dsn> [{
//			interval <duration>          # default 500ms
//		}]
//		issuer     <url>
//		passport
//		audience   <aud...>
//		scopes     all|any <scope...>
//		subject    user | client | any
//		provider   <name>
//		cookie     <name>
//		header     <Name> <value-with-placeholders>
//		realm      <realm>
//		leeway     <duration>
//		cache_size <entries>
//		dpop_proof_window <duration>  # default 60s
//		dpop_nonce                    # require guard-issued DPoP nonces
//	}
//
// jwks or introspect (or both) is required. With both, a token must pass the local
// signature check and introspection on first sight. revocations without its own
// credentials uses those of introspect. passport (no arguments) also accepts Laravel
// Passport's tokens (no iss, typ JWT) against the key jwks names, typically Passport's
// oauth-public.key; issuer is then optional. DPoP-bound tokens (cnf.jkt) are taken
// with the DPoP scheme and a proof, certificate-bound ones (cnf.x5t#S256) with their TLS
// client certificate, without any option; dpop_proof_window and dpop_nonce tune the
// proof check. Parsing checks the syntax only; values (the
// scopes mode, subject, required credentials, URLs) are checked once, when the handler is
// provisioned, for the Caddyfile and JSON alike.
func unmarshalGuard(g *caddymodule.Guard, d *cfparse.Dispenser) error {
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
		case "introspect":
			ic := &caddymodule.IntrospectConfig{}
			if err := oneArg(d, &ic.URL); err != nil {
				return err
			}
			if err := parseIntrospect(d, ic); err != nil {
				return err
			}
			g.Introspect = ic
		case "revocations":
			rc := &caddymodule.RevocationsConfig{}
			if err := oneArg(d, &rc.URL); err != nil {
				return err
			}
			if err := parseRevocations(d, rc); err != nil {
				return err
			}
			g.Revocations = rc
		case "passport_revocations":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("passport_revocations: want 'passport_revocations mysql|postgres|sqlite <dsn>'")
			}
			pc := &caddymodule.PassportRevocationsConfig{Driver: args[0], DSN: args[1]}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				switch opt := d.Val(); opt {
				case "interval":
					dur, err := durationArg(d, opt)
					if err != nil {
						return err
					}
					pc.Interval = dur
				default:
					return d.Errf("passport_revocations: unknown option %q", opt)
				}
			}
			g.PassportRevocations = pc
		case "issuer":
			if err := oneArg(d, &g.Issuer); err != nil {
				return err
			}
		case "passport":
			if d.NextArg() {
				return d.Errf("passport: takes no arguments (the line alone turns it on)")
			}
			g.Passport = true
		case "audience":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Errf("audience: at least one value is required")
			}
			g.Audience = append(g.Audience, args...)
		case "scopes":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Errf("scopes: want 'scopes all|any <scope...>'")
			}
			g.Scopes = append(g.Scopes, caddymodule.ScopeRuleConfig{Mode: args[0], Scopes: args[1:]})
		case "subject":
			if err := oneArg(d, &g.Subject); err != nil {
				return err
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
		case "dpop_proof_window":
			var raw string
			if err := oneArg(d, &raw); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(raw)
			if err != nil || dur <= 0 {
				return d.Errf("dpop_proof_window: %q is not a positive duration", raw)
			}
			g.DPoPProofWindow = caddy.Duration(dur)
		case "dpop_nonce":
			if d.NextArg() {
				return d.Errf("dpop_nonce: takes no arguments (the line alone turns it on)")
			}
			g.DPoPNonce = true
		default:
			return d.Errf("oauth_guard: unknown option %q", opt)
		}
	}
	return nil
}

// parseIntrospect reads the block of `introspect <url> { ... }`.
func parseIntrospect(d *cfparse.Dispenser, ic *caddymodule.IntrospectConfig) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "client_id":
			if err := oneArg(d, &ic.ClientID); err != nil {
				return err
			}
		case "client_secret":
			if err := oneArg(d, &ic.ClientSecret); err != nil {
				return err
			}
		case "token_url":
			if err := oneArg(d, &ic.TokenURL); err != nil {
				return err
			}
		case "cache_ttl", "negative_cache_ttl", "timeout":
			dur, err := durationArg(d, opt)
			if err != nil {
				return err
			}
			switch opt {
			case "cache_ttl":
				ic.CacheTTL = dur
			case "negative_cache_ttl":
				ic.NegativeCacheTTL = dur
			default:
				ic.Timeout = dur
			}
		case "negative_cache_size":
			var raw string
			if err := oneArg(d, &raw); err != nil {
				return err
			}
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || n <= 0 {
				return d.Errf("introspect: negative_cache_size: %q is not a positive number", raw)
			}
			ic.NegativeCacheSize = n
		default:
			return d.Errf("introspect: unknown option %q", opt)
		}
	}
	return nil
}

// parseRevocations reads the optional block of `revocations <url> { ... }`.
func parseRevocations(d *cfparse.Dispenser, rc *caddymodule.RevocationsConfig) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "client_id":
			if err := oneArg(d, &rc.ClientID); err != nil {
				return err
			}
		case "client_secret":
			if err := oneArg(d, &rc.ClientSecret); err != nil {
				return err
			}
		case "token_url":
			if err := oneArg(d, &rc.TokenURL); err != nil {
				return err
			}
		case "behind_after":
			dur, err := durationArg(d, opt)
			if err != nil {
				return err
			}
			rc.BehindAfter = dur
		default:
			return d.Errf("revocations: unknown option %q", opt)
		}
	}
	return nil
}

// durationArg reads one non-negative duration argument of option opt.
func durationArg(d *cfparse.Dispenser, opt string) (caddy.Duration, error) {
	var raw string
	if err := oneArg(d, &raw); err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(raw)
	if err != nil || dur < 0 {
		return 0, d.Errf("%s: %q is not a duration", opt, raw)
	}
	return caddy.Duration(dur), nil
}
