package authserver_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// GET /oauth/request?client=ID (the seeds' convenience route) starts the code flow for a
// confidential client with one redirect URI; the authorization endpoint then does every
// check. Anything it cannot start for a client is an error page, never a redirect.
func TestAuthorizationShortcutStartsTheCodeFlow(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		p := b.get(authserver.PathAuthorizationShortcut + "?client=web2&state=st-9&scope=orders:read")
		loc := p.location(t)
		q := loc.Query()
		if loc.Path != authserver.PathAuthorize || q.Get("client_id") != "web2" || q.Get("redirect_uri") != webCB ||
			q.Get("response_type") != "code" || q.Get("state") != "st-9" || q.Get("scope") != "orders:read" {
			t.Fatalf("shortcut: %d %s", p.status, loc)
		}
		if consent := b.get(loc.RequestURI()); consent.status != http.StatusOK {
			t.Fatalf("the authorization it starts: %d", consent.status)
		}
		for name, query := range map[string]string{
			"two redirect URIs": "client=web",
			"public client":     "client=spa",
			"unknown client":    "client=nobody",
			"no client":         "",
			"repeated client":   url.Values{"client": {"web2", "web"}}.Encode(),
		} {
			p := b.get(authserver.PathAuthorizationShortcut + "?" + query)
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
				t.Errorf("%s: %d, Location %q", name, p.status, p.header.Get("Location"))
			}
		}
	})
}
