// Package caddymodule is the Caddy glue: the oauth_server and oauth_guard HTTP handler
// modules (their JSON configuration), the state they share across config reloads
// (pools.go), their placeholders and metrics. Protocol logic lives in authserver and
// validator; the Caddyfile syntax of both directives lives in package caddyfile.
//
// The server's configuration reaches a running authserver.Server by one path, used by
// Provision and by the `caddy oauth` commands alike (OpenStandalone): server_settings.go
// checks every option once, server_resources.go opens the store, keys and user databases
// (pooled under Caddy, directly for a command).
package caddymodule
