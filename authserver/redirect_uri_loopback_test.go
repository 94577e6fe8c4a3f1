package authserver_test

import (
	"net/http"
	"net/url"
	"testing"
)

// RFC 8252 §7.3: a native app registers http://127.0.0.1:<port>/callback (or without a
// port) and listens on whatever port is free when it runs; the server must allow any
// port for a loopback IP redirect URI. The code is bound to the URI as sent, port
// included, and nothing else about the URI gets leeway.
func TestLoopbackRedirectURIMatchesOnAnyPort(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil) // spa registers http://127.0.0.1:9999/callback
		b := s.browser(t)
		b.login("")
		q := spaQuery()
		q.Set("redirect_uri", "http://127.0.0.1:53412/callback")
		p := b.authorize(q)
		if p.status == http.StatusOK {
			p = b.decide(q, p, "approve")
		}
		loc := p.location(t)
		if loc.Host != "127.0.0.1:53412" || loc.Path != "/callback" || loc.Query().Get("code") == "" {
			t.Fatalf("redirect to %s, want the port the request named", loc)
		}
		code := loc.Query().Get("code")
		// The token request must name the same URI, port included.
		if r := s.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaCB}, "code_verifier": {verifier}}); r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" {
			t.Fatalf("exchange with the registered port: %d %v", r.Status, r.Body)
		}
		code = b.codeFor(q)
		if r := s.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {"http://127.0.0.1:53412/callback"}, "code_verifier": {verifier}}); r.Status != http.StatusOK {
			t.Fatalf("exchange with the request's port: %d %v", r.Status, r.Body)
		}

		// Only the port is free: the rest must match, and only on a loopback IP literal.
		for _, uri := range []string{
			"http://127.0.0.1:53412/callback/x",
			"http://127.0.0.1:53412/Callback",
			"http://127.0.0.1:53412/callback?x=1",
			"http://127.0.0.1:53412/callback#f",
			"http://127.0.0.2:53412/callback",
			"http://localhost:53412/callback",
			"https://127.0.0.1:53412/callback",
			"http://127.0.0.1.evil.example:53412/callback",
			"http://user@127.0.0.1:53412/callback",
			"http://127.0.0.1:99999/callback",
			"http://127.0.0.1:0/callback",
			"http://127.0.0.1:abc/callback",
		} {
			q := spaQuery()
			q.Set("redirect_uri", uri)
			if p := b.authorize(q); p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
				t.Errorf("%s: status %d, Location %q", uri, p.status, p.header.Get("Location"))
			}
		}
	})
}
