// Package caddyoauth is the Caddy plugin: importing it (xcaddy build --with
// github.com/caddyoauth/caddy-oauth) registers the oauth_server and oauth_guard handlers,
// their Caddyfile directives and the `caddy oauth` command.
package caddyoauth

import (
	// The Caddy modules and directives.
	_ "github.com/caddyoauth/caddy-oauth/caddyfile"
	// The handler modules (also imported by the directives; named here for the JSON config).
	_ "github.com/caddyoauth/caddy-oauth/caddymodule"
	// The `caddy oauth ...` command line.
	_ "github.com/caddyoauth/caddy-oauth/cmd"
)
