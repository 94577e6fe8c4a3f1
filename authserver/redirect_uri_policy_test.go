package authserver_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// Both policies' accept and refuse sets, pinned: the operator (Caddyfile, CLI) may
// register plain http to any host and any private-use scheme; an end user (JSON API)
// only https, http to a loopback host, or a reverse-domain private-use scheme. What is
// never safe is refused by both.
func TestRedirectURIPolicyModes(t *testing.T) {
	const (
		both     = "both"     // accepted by both policies
		operator = "operator" // accepted by the operator policy only
		neither  = "neither"  // refused by both
	)
	for _, c := range []struct{ uri, accepted string }{
		{"https://client.example/cb", both},
		{"https://client.example/cb?tenant=7", both},
		{"https://[::1]:8443/cb", both},
		{"http://127.0.0.1:9999/callback", both},
		{"http://localhost/cb", both},
		{"http://[::1]/cb", both},
		{"com.example.app:/oauth2redirect", both},
		{"https://client.example/" + strings.Repeat("a", 1900), both},

		{"http://evil.example/cb", operator},
		{"http://intranet.example:8080/cb", operator},
		{"myapp://callback", operator},
		{"ftp://files.example/cb", operator},
		{"https://client.example/" + strings.Repeat("a", 2000), operator},
		{"https://client.example/c\u00a0b", operator},

		{"javascript:alert(1)", neither},
		{"JavaScript:alert(1)", neither},
		{"data:text/html,<script>alert(1)</script>", neither},
		{"vbscript:msgbox(1)", neither},
		{"file:///etc/passwd", neither},
		{"blob:https://client.example/x", neither},
		{"https://client.example/cb#frag", neither},
		{"https://client.example/cb#", neither},
		{"/relative/cb", neither},
		{"client.example/cb", neither},
		{"//client.example/cb", neither},
		{"", neither},
		{"https:///cb", neither},
		// No host name, only a port: the JSON API accepted this before the two policies
		// were one; no browser can be sent there.
		{"https://:443/cb", neither},
		{"http:cb", neither},
		{"https://client.example/%zz", neither},
		{"http://[::1/cb", neither},
		{"https://bank.example@evil.example/cb", neither},
		{"https://user:pw@client.example/cb", neither},
		{"https://client.example/cb\r\nX: 1", neither},
		{"https://client.example/c b", neither},
		{"https://client.example/cb\x00", neither},
	} {
		for _, p := range []authserver.RedirectURIPolicy{authserver.StrictRedirectURIs, authserver.OperatorRedirectURIs} {
			want := c.accepted == both || (c.accepted == operator && p == authserver.OperatorRedirectURIs)
			err := p.Check(c.uri)
			if (err == nil) != want {
				t.Errorf("%s policy, %q: err = %v, want accepted %v", p, c.uri, err, want)
			}
			var bad *authserver.RedirectURIError
			if err != nil && (!errors.As(err, &bad) || bad.URI != c.uri || bad.Reason == "" || !strings.Contains(err.Error(), "redirect URI")) {
				t.Errorf("%s policy, %q: error %v does not name the URI and a reason", p, c.uri, err)
			}
		}
	}
}

// The zero policy is the strict one, so a ClientSpec that forgets to say who registers
// the client gets the end-user rules.
func TestRedirectURIPolicyZeroValueIsStrict(t *testing.T) {
	var p authserver.RedirectURIPolicy
	if p != authserver.StrictRedirectURIs || p.Check("http://evil.example/cb") == nil {
		t.Fatal("the zero policy accepts plain http to any host")
	}
	if authserver.CheckRedirectURI("http://evil.example/cb") != nil || authserver.CheckRedirectURI("javascript:x") == nil {
		t.Fatal("CheckRedirectURI is not the operator policy")
	}
}
