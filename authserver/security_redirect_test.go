package authserver_test

import (
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// Redirect URIs that would let a code or token go somewhere other than where the consent
// screen says, run script, or be matched loosely are refused at registration.
func TestCheckRedirectURIRefusesDangerousURIs(t *testing.T) {
	for _, bad := range []string{
		"javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>",
		"vbscript:msgbox(1)", "file:///etc/passwd", "blob:https://client.example/x",
		"https://client.example/cb#frag", "https://client.example/cb#",
		"/relative/cb", "client.example/cb", "//client.example/cb", "",
		"https:///cb", "https://:443/cb", "http:cb",
		"https://bank.example@evil.example/cb", "https://user:pw@client.example/cb",
		"https://client.example/cb\r\nX: 1", "https://client.example/c b", "https://client.example/cb\x00",
	} {
		if err := authserver.CheckRedirectURI(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{
		"https://client.example/cb", "https://client.example/cb?tenant=7", "http://127.0.0.1:9999/callback",
		"http://localhost/cb", "com.example.app:/oauth2redirect", "myapp://callback", "https://[::1]:8443/cb",
	} {
		if err := authserver.CheckRedirectURI(good); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
}
