// Command caddy is Caddy with the standard modules and this plugin, the same binary
// `xcaddy build --with github.com/caddyoauth/caddy-oauth` makes. The multi-process
// integration tests build it with `go build`, which reuses the module's own build cache
// instead of a fresh xcaddy build directory.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddyoauth/caddy-oauth"
)

func main() {
	caddycmd.Main()
}
