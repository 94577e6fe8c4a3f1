package authserver_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// The store holds a session's CSRF token only as a digest: the token is derived from the
// session cookie's value, which it does not hold either. A session stored before tokens
// were hashed keeps working with its token until it ends; a stored digest that does not
// match the cookie's token accepts nothing.
func TestSessionCSRFTokensAreStoredHashed(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		plant := func(b *browser, cookie, storedCSRF string) {
			t.Helper()
			if err := f.st.CreateSession(ctx, &store.Session{ID: authserver.Digest(cookie), UserID: f.userID, Provider: authserver.DefaultProvider,
				Username: userEmail, CSRFToken: storedCSRF, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(s.url + "/oauth/")
			b.c.Jar.SetCookies(u, []*http.Cookie{{Name: authserver.SessionCookie, Value: cookie, Path: "/oauth"}})
		}
		logout := func(b *browser, csrf string) int {
			t.Helper()
			return b.post(authserver.PathLogout, url.Values{"_csrf": {csrf}}, nil).status
		}

		// A session stored before: its plain token is shown and accepted.
		legacy := s.browser(t)
		plant(legacy, authserver.NewSecret(), "legacy-csrf-token-0123456789abcdef0123456")
		if got := legacy.get(authserver.PathLogin).csrf(t); got != "legacy-csrf-token-0123456789abcdef0123456" {
			t.Fatalf("legacy session's page token %q", got)
		}
		if st := logout(legacy, "wrong"); st != http.StatusForbidden {
			t.Fatalf("legacy session, wrong token: %d", st)
		}
		if st := logout(legacy, "legacy-csrf-token-0123456789abcdef0123456"); st != http.StatusSeeOther {
			t.Fatalf("legacy session, its token: %d", st)
		}

		// A stored digest of something else: nothing is accepted, the digest itself
		// presented as a token included.
		bad := s.browser(t)
		wrongDigest := authserver.Digest("another token")
		plant(bad, authserver.NewSecret(), wrongDigest)
		for _, try := range []string{"", wrongDigest} {
			if st := logout(bad, try); st != http.StatusForbidden {
				t.Fatalf("mismatched digest: %d", st)
			}
		}

		// A session made by a login: the page's token works, its digest does not.
		b := s.browser(t)
		b.login("")
		token := b.get(authserver.PathLogin).csrf(t)
		if st := logout(b, authserver.Digest(token)); st != http.StatusForbidden {
			t.Fatalf("the stored digest presented as the token: %d", st)
		}
		if st := logout(b, token); st != http.StatusSeeOther {
			t.Fatalf("the page's token: %d", st)
		}
	})
}
