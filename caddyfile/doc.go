// Package caddyfile is the Caddyfile syntax of the oauth_server and oauth_guard
// directives: it registers both directives with their default order and turns their
// tokens into the caddymodule handlers' configuration. Parsing does no I/O; options are
// checked when the handlers are provisioned.
package caddyfile
