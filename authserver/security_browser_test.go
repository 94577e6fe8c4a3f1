package authserver_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

const xss = `"'><script>alert(1)</script><img src=x onerror=alert(2)>`

// noMarkup fails when an attacker's markup appears unescaped in a page.
func noMarkup(t *testing.T, what string, p page) {
	t.Helper()
	for _, raw := range []string{"<script>alert(1)", "<img src=x", `"'>`} {
		if strings.Contains(p.body, raw) {
			t.Errorf("%s: the page holds %q unescaped", what, raw)
		}
	}
}

// wantPageHeaders fails unless an HTML answer forbids framing and sniffing and is not
// cached.
func wantPageHeaders(t *testing.T, what string, p page) {
	t.Helper()
	h := p.header
	if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("%s (%d): framing not forbidden: CSP %q XFO %q", what, p.status, h.Get("Content-Security-Policy"), h.Get("X-Frame-Options"))
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Cache-Control"), "no-store") {
		t.Errorf("%s (%d): nosniff %q, cache %q", what, p.status, h.Get("X-Content-Type-Options"), h.Get("Cache-Control"))
	}
}

// Reflected and stored XSS: a client name, a state, a registered redirect URI, a return_to
// and a username full of markup are shown escaped on the consent, login and error pages.
func TestPagesEscapeEveryAttackerControlledValue(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		evilCB := `https://client.example/cb?x="><script>alert(1)</script>`
		now := time.Now().UTC()
		if err := f.st.CreateClient(context.Background(), &store.Client{
			ID: "evil", Name: xss, RedirectURIs: []string{evilCB}, Grants: []string{"authorization_code"},
			SecretHash: authserver.HashSecret(webSecret), CreatedAt: now, UpdatedAt: now,
		}); err != nil {
			t.Fatal(err)
		}
		b := s.browser(t)
		lp := b.get(authserver.PathLogin + "?return_to=" + url.QueryEscape("/oauth/authorize?"+xss))
		noMarkup(t, "login page with a return_to", lp)
		bad := b.post(authserver.PathLogin, url.Values{"_csrf": {lp.csrf(t)}, "username": {xss}, "password": {"wrong-password"}, "return_to": {"/" + xss}}, nil)
		noMarkup(t, "login page after a wrong password", bad)
		wantPageHeaders(t, "login page after a wrong password", bad)

		b.login("")
		q := url.Values{"response_type": {"code"}, "client_id": {"evil"}, "redirect_uri": {evilCB}, "state": {xss}, "scope": {"orders:read"}}
		consent := b.authorize(q)
		if consent.status != http.StatusOK {
			t.Fatalf("consent: %d %.300s", consent.status, consent.body)
		}
		noMarkup(t, "consent page", consent)
		wantPageHeaders(t, "consent page", consent)
		if !strings.Contains(consent.body, "&lt;script&gt;") {
			t.Errorf("the consent page does not show the client's name at all: %.500s", consent.body)
		}
		// The CSP allows the form to lead only to the client's origin, not to a
		// source list an attacker could extend through the redirect URI.
		csp := consent.header.Get("Content-Security-Policy")
		if strings.Contains(csp, "script") || strings.Contains(csp, `"`) || strings.Count(csp, ";") > 6 {
			t.Errorf("the consent page's CSP carries the redirect URI's text: %q", csp)
		}
		// The state comes back byte for byte.
		p := b.decide(q, consent, "approve")
		if got := p.location(t).Query().Get("state"); got != xss {
			t.Errorf("state came back as %q", got)
		}
		// Error page for an unknown client whose id is markup.
		ep := b.get(authserver.PathAuthorize + "?" + url.Values{"client_id": {xss}, "redirect_uri": {evilCB}}.Encode())
		noMarkup(t, "error page", ep)
		wantPageHeaders(t, "error page", ep)
	})
}

// The state parameter is an opaque value returned exactly (RFC 6749 §4.1.2), whatever it
// holds, in the query and in the error redirect.
func TestStateComesBackUntouched(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		for _, state := range []string{"a b&c=d#e?f", "ünïcødé ✓", "%41%00", strings.Repeat("s", 2000), "state=1&code=attacker"} {
			q := spaQuery()
			q.Set("state", state)
			consent := b.authorize(q)
			if consent.status == http.StatusOK {
				consent = b.decide(q, consent, "approve")
			}
			loc := consent.location(t)
			if got := loc.Query()["state"]; len(got) != 1 || got[0] != state {
				t.Errorf("state %.40q came back as %q", state, got)
			}
			if codes := loc.Query()["code"]; len(codes) != 1 || codes[0] == "attacker" {
				t.Errorf("state %.40q: codes %q", state, codes)
			}
			q.Set("response_type", "bogus")
			loc = b.authorize(q).location(t)
			if got := loc.Query().Get("state"); got != state {
				t.Errorf("error redirect: state %.40q came back as %q", state, got)
			}
		}
	})
}

// Every state-changing POST of a session needs its CSRF token from the same origin:
// deny as well as approve, logout, and approval from another origin even with the right
// token (a token leaked to another site does not make its posts ours). Refusals are
// framed-protected pages and change nothing.
func TestCrossSiteRequestsAreRefusedEverywhere(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		q := webQuery()
		consent := b.authorize(q)
		token := consent.csrf(t)
		before := f.dump()
		form := func(decision, csrf string) url.Values {
			v := url.Values{}
			for k, vv := range q {
				v[k] = vv
			}
			v.Set("decision", decision)
			if csrf != "" {
				v.Set("_csrf", csrf)
			}
			return v
		}
		cases := []struct {
			name   string
			path   string
			form   url.Values
			header map[string]string
		}{
			{"approve without token", authserver.PathAuthorize, form("approve", ""), nil},
			{"deny without token", authserver.PathAuthorize, form("deny", ""), nil},
			{"approve with a wrong token", authserver.PathAuthorize, form("approve", tamper(token)), nil},
			{"approve with the token from another origin", authserver.PathAuthorize, form("approve", token), map[string]string{"Origin": "https://evil.example"}},
			{"approve with the token from a null origin", authserver.PathAuthorize, form("approve", token), map[string]string{"Origin": "null"}},
			{"approve with the token in a header of another origin", authserver.PathAuthorize, form("approve", ""), map[string]string{"Origin": "https://evil.example", "X-CSRF-TOKEN": token}},
			{"logout without token", authserver.PathLogout, url.Values{}, nil},
			{"logout from another origin", authserver.PathLogout, url.Values{"_csrf": {token}}, map[string]string{"Origin": "https://evil.example"}},
		}
		for _, c := range cases {
			p := b.post(c.path, c.form, c.header)
			if p.status != http.StatusForbidden || p.header.Get("Location") != "" {
				t.Errorf("%s: %d, Location %q", c.name, p.status, p.header.Get("Location"))
			}
			wantPageHeaders(t, c.name, p)
		}
		if f.dump() != before || b.sessionCookie() == "" {
			t.Error("refused cross-site requests changed the store or ended the session")
		}
		if p := b.get(authserver.PathLogin); !strings.Contains(p.body, userEmail) {
			t.Error("the session no longer works after the refused requests")
		}
	})
}

// After logout, and after GET /oauth/login with a live session, the browser only ever goes
// to a path on this server, whatever return_to says.
func TestLogoutAndSignedInLoginNeverRedirectOffSite(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		for _, evil := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)", "\x00/evil"} {
			b := s.browser(t)
			b.login("")
			p := b.get(authserver.PathLogin + "?return_to=" + url.QueryEscape(evil))
			if loc := p.header.Get("Location"); loc != "" {
				if u, err := url.Parse(loc); err != nil || u.Host != "" || u.Scheme != "" || strings.HasPrefix(loc, "//") {
					t.Errorf("signed-in login with return_to %q: Location %q", evil, loc)
				}
			}
			signedIn := b.get(authserver.PathLogin)
			p = b.post(authserver.PathLogout, url.Values{"_csrf": {signedIn.csrf(t)}, "return_to": {evil}}, nil)
			loc := p.location(t)
			if loc.Host != "" || loc.Scheme != "" || !strings.HasPrefix(loc.Path, "/") || strings.HasPrefix(p.header.Get("Location"), "//") {
				t.Errorf("logout with return_to %q: Location %q", evil, p.header.Get("Location"))
			}
			wantPageHeaders(t, "logout redirect", page{status: p.status, header: p.header})
		}
	})
}

// A session id set in the browser before login (session fixation) is never the one the
// login creates, and an unknown session cookie is no session at all.
func TestPlantedSessionCookieIsNeverAdopted(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		planted := authserver.NewSecret()
		u, _ := url.Parse(s.url + "/oauth/")
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: authserver.SessionCookie, Value: planted, Path: "/oauth"}})
		if p := b.authorize(webQuery()); p.status != http.StatusFound || !strings.HasPrefix(p.header.Get("Location"), authserver.PathLogin) {
			t.Fatalf("a planted unknown session was taken as signed in: %d %q", p.status, p.header.Get("Location"))
		}
		b.login("")
		if got := b.sessionCookie(); got == planted || got == "" {
			t.Fatalf("login kept the planted session id")
		}
		if _, err := f.st.GetSession(context.Background(), authserver.Digest(planted)); err == nil {
			t.Fatal("a session exists under the planted id")
		}
	})
}
