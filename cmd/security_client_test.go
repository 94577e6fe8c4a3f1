package cmd

import (
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// The CLI refuses redirect URIs a code must never be sent to (RFC 6749 §3.1.2, RFC 9700
// §4.1): script and local schemes, fragments, relative URIs, a user part posing as the
// host. Nothing is stored.
func TestClientCommandRefusesDangerousRedirectURIs(t *testing.T) {
	eachStore(t, func(t *testing.T, s storeSpec) {
		for _, bad := range []string{
			"javascript:alert(1)", "data:text/html,x", "https://client.example/cb#x",
			"/cb", "https://bank.example@evil.example/cb",
		} {
			for _, kind := range []string{"", "--public"} {
				args := []string{"client", "--storage", s.flag(), "--name", "Web", "--redirect-uri", bad}
				if kind != "" {
					args = append(args, kind)
				}
				mustFail(t, "redirect URI", args...)
			}
		}
		out := mustRun(t, "", "client", "--storage", s.flag(), "--name", "Web", "--redirect-uri", "https://client.example/cb,http://127.0.0.1:9999/cb", "--json")
		if !strings.Contains(out, "https://client.example/cb") {
			t.Fatalf("a good client was not made: %s", out)
		}
		clients, err := openStore(t, s).ListClients(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(clients) != 1 {
			t.Fatalf("%d clients stored, want only the good one", len(clients))
		}
	})
}

// The command line registers clients for the operator: plain http to any host and a
// private-use scheme without a dot are accepted on purpose (the operator policy,
// authserver.OperatorRedirectURIs), though the JSON API refuses them to end users.
func TestClientCommandFollowsTheOperatorRedirectURIPolicy(t *testing.T) {
	s := storeSpec{"sqlite", testdb.SQLitePath(t)}
	out := mustRun(t, "", "client", "--storage", s.flag(), "--name", "Intranet", "--redirect-uri", "http://evil.example/cb,myapp://callback", "--json")
	if !strings.Contains(out, "http://evil.example/cb") || !strings.Contains(out, "myapp://callback") {
		t.Fatalf("operator redirect URIs not registered: %s", out)
	}
}
