// Package caddymodule is the Caddy glue: the oauth_server and oauth_guard HTTP handler
// modules (their JSON configuration), the state they share across config reloads, their
// placeholders and metrics. Protocol logic lives in authserver and validator; the
// Caddyfile syntax of both directives lives in package caddyfile.
package caddymodule
