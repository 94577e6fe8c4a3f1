package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A personal access token made with `caddy oauth token` passes a guard that needs its
// scopes and names its user; one without the scope is refused.
func TestPersonalAccessTokenFromCLIPassesTheGuard(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		s := startSite(t, sc)
		// The CLI reads the scopes and issuer from a Caddyfile, as an operator's would.
		config := filepath.Join(t.TempDir(), "Caddyfile")
		cf := fmt.Sprintf("http://127.0.0.1:1 {\n\toauth_server {\n\t\tissuer %s\n\t\t%s\n\t\tscope orders:read Read your orders\n\t}\n}\n", s.issuer, sc.directive())
		if err := os.WriteFile(config, []byte(cf), 0o600); err != nil {
			t.Fatal(err)
		}
		runCLI(t, "", "install", "--config", config)
		var tok struct {
			AccessToken string `json:"access_token"`
			TokenID     string `json:"token_id"`
		}
		out := runCLI(t, "", "token", "--config", config, "--user", s.userID, "--name", "deploy", "--scopes", "orders:read", "--json")
		if err := json.Unmarshal([]byte(out), &tok); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		r := call(t, "GET", s.api, tok.AccessToken, nil)
		if r.status != 200 {
			t.Fatalf("guard refused the personal token: %d %v", r.status, r.body)
		}
		if h, _ := s.up.seen(); h.Get("X-Oauth-User-Id") != s.userID || h.Get("X-Oauth-Token-Id") != tok.TokenID {
			t.Fatalf("identity %v", h)
		}
		if r := call(t, "GET", s.writeAPI, tok.AccessToken, nil); r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Fatalf("write API with a read token: %d %v", r.status, r.header)
		}
	})
}
