package authserver_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

func TestLoginStartsSessionInStoreWithSafeCookieAndRotatesIDAtEveryLogin(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		p := b.login("")
		if loc := p.location(t); loc.Path != authserver.PathLogin || loc.Host != "" {
			t.Errorf("after login without return_to, Location %s", loc)
		}
		var setCookie string
		for _, c := range p.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, authserver.SessionCookie+"=") {
				setCookie = c
			}
		}
		for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/oauth"} {
			if !strings.Contains(setCookie, attr) {
				t.Errorf("session cookie %q lacks %s", setCookie, attr)
			}
		}
		first := b.sessionCookie()
		if len(first) != 43 {
			t.Fatalf("cookie value %q is not 256 bits in base64url", first)
		}
		sess, err := f.st.GetSession(context.Background(), authserver.Digest(first))
		if err != nil {
			t.Fatalf("the session is not stored under the digest of its cookie: %v", err)
		}
		if sess.UserID != f.userID || sess.Provider != authserver.DefaultProvider || len(sess.CSRFToken) != 64 {
			t.Errorf("session %+v", sess)
		}
		// The CSRF token the pages carry is stored only as its digest.
		csrf := b.get(authserver.PathLogin).csrf(t)
		if len(csrf) != 43 || authserver.Digest(csrf) != sess.CSRFToken {
			t.Errorf("the page's CSRF token %q is not the one whose digest is stored", csrf)
		}
		if dump := f.dump(); strings.Contains(dump, first) || strings.Contains(dump, csrf) {
			t.Error("the cookie value or the CSRF token itself is in the store")
		}

		// Session fixation: a session id planted in the victim's browser before login
		// (here a real, live one) is replaced at login and deleted.
		victim := s.browser(t)
		form := victim.get(authserver.PathLogin)
		u, _ := url.Parse(s.url + "/oauth/")
		victim.c.Jar.SetCookies(u, []*http.Cookie{{Name: authserver.SessionCookie, Value: first, Path: "/oauth"}})
		p = victim.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {userEmail}, "password": {userPass}}, nil)
		if p.status != http.StatusSeeOther {
			t.Fatalf("login with a planted session: status %d", p.status)
		}
		if second := victim.sessionCookie(); second == first || second == "" {
			t.Fatalf("login kept the planted session id (%q)", second)
		}
		if _, err := f.st.GetSession(context.Background(), authserver.Digest(first)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the session from before login still exists: %v", err)
		}
	})
}

func TestSessionCookieIsSecureWhenTheIssuerIsHTTPS(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, func(c *authserver.Config) { c.Issuer = "https://auth.test" })
		b := s.browser(t)
		form := b.get(authserver.PathLogin)
		if !strings.Contains(form.header.Get("Set-Cookie"), "Secure") {
			t.Errorf("login CSRF cookie %q is not Secure", form.header.Get("Set-Cookie"))
		}
		p := b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {userEmail}, "password": {userPass}}, nil)
		for _, c := range p.header.Values("Set-Cookie") {
			if strings.HasPrefix(c, authserver.SessionCookie+"=") && !strings.Contains(c, "Secure") {
				t.Errorf("session cookie %q is not Secure", c)
			}
		}
	})
}

func TestLoginWithWrongPasswordOrUnknownUserStartsNoSessionAndChangesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		before := f.dump()
		for _, creds := range [][2]string{{userEmail, "wrong"}, {"nobody@example.com", userPass}} {
			b := s.browser(t)
			form := b.get(authserver.PathLogin)
			p := b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {creds[0]}, "password": {creds[1]}}, nil)
			if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "incorrect") {
				t.Errorf("%s: status %d", creds[0], p.status)
			}
			if b.sessionCookie() != "" {
				t.Errorf("%s: a session cookie was set", creds[0])
			}
		}
		if f.dump() != before {
			t.Error("a failed login changed the store")
		}
	})
}

func TestLoginWithoutTheFormsCSRFTokenIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		before := f.dump()
		creds := url.Values{"username": {userEmail}, "password": {userPass}}
		// No token at all (a cross-site form post has no cookie to echo).
		b := s.browser(t)
		if p := b.post(authserver.PathLogin, creds, nil); p.status != http.StatusForbidden {
			t.Errorf("without token: status %d", p.status)
		}
		// A token that is not the one in this browser's cookie.
		b.get(authserver.PathLogin)
		other := s.browser(t).get(authserver.PathLogin).csrf(t)
		creds.Set("_csrf", other)
		if p := b.post(authserver.PathLogin, creds, nil); p.status != http.StatusForbidden {
			t.Errorf("with another browser's token: status %d", p.status)
		}
		// The right token, from a page of another origin.
		creds.Set("_csrf", b.get(authserver.PathLogin).csrf(t))
		if p := b.post(authserver.PathLogin, creds, map[string]string{"Origin": "https://evil.example"}); p.status != http.StatusForbidden {
			t.Errorf("from another origin: status %d", p.status)
		}
		// Origin: null (a sandboxed frame, a data: page) is not this server either.
		creds.Set("_csrf", b.get(authserver.PathLogin).csrf(t))
		if p := b.post(authserver.PathLogin, creds, map[string]string{"Origin": "null"}); p.status != http.StatusForbidden {
			t.Errorf("from Origin null: status %d", p.status)
		}
		if b.sessionCookie() != "" || f.dump() != before {
			t.Error("a refused login started a session")
		}
	})
}

func TestLoginReturnToAcceptsOnlyPathsOnThisServer(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		for _, evil := range []string{
			"https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
			"http:evil.example", "javascript:alert(1)", "/ok\r\nLocation: https://evil.example",
			"///evil.example", "/\t/evil.example", "https:/evil.example", "evil.example",
		} {
			b := s.browser(t)
			p := b.login(evil)
			if loc := p.location(t); loc.Host != "" || loc.Scheme != "" || loc.Path != authserver.PathLogin {
				t.Errorf("return_to %q: redirected to %s", evil, p.header.Get("Location"))
			}
		}
		b := s.browser(t)
		good := authserver.PathAuthorize + "?client_id=web&state=a%20b"
		if loc := b.login(good).header.Get("Location"); loc != good {
			t.Errorf("a local return_to was not followed: %q", loc)
		}
	})
}

func TestLogoutNeedsTheSessionsCSRFTokenAndDeletesTheSession(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		cookie := b.sessionCookie()
		signedIn := b.get(authserver.PathLogin)
		if !strings.Contains(signedIn.body, userEmail) {
			t.Fatalf("the login page does not say who is signed in: %.300s", signedIn.body)
		}
		before := f.dump()
		for name, form := range map[string]url.Values{
			"no token":    {},
			"wrong token": {"_csrf": {tamper(signedIn.csrf(t))}},
		} {
			if p := b.post(authserver.PathLogout, form, nil); p.status != http.StatusForbidden {
				t.Errorf("%s: status %d", name, p.status)
			}
		}
		if f.dump() != before {
			t.Fatal("a refused logout changed the store")
		}
		p := b.post(authserver.PathLogout, url.Values{"_csrf": {signedIn.csrf(t)}}, nil)
		if p.status != http.StatusSeeOther {
			t.Fatalf("logout: status %d", p.status)
		}
		if _, err := f.st.GetSession(context.Background(), authserver.Digest(cookie)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the session survived logout: %v", err)
		}
		if b.sessionCookie() != "" {
			t.Error("the session cookie was not cleared")
		}
	})
}

func TestEveryPageForbidsFramingAndLoadsNothingFromElsewhere(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		pages := map[string]page{"login": b.get(authserver.PathLogin)}
		pages["error"] = b.get(authserver.PathAuthorize + "?client_id=nope")
		b.login("")
		pages["consent"] = b.authorize(webQuery())
		pages["signed in"] = b.get(authserver.PathLogin)
		for name, p := range pages {
			csp := p.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("%s: CSP %q", name, csp)
			}
			if p.header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: X-Frame-Options %q", name, p.header.Get("X-Frame-Options"))
			}
			if !strings.Contains(p.body, `<html lang="en">`) || !strings.Contains(p.body, `name="viewport"`) {
				t.Errorf("%s: page lacks lang or viewport", name)
			}
			// The consent form carries the client's redirect URI; nothing else may name
			// another site.
			if (strings.Contains(p.body, "http://") || strings.Contains(p.body, "https://")) && name != "consent" {
				t.Errorf("%s: page refers to another site: %.300s", name, p.body)
			}
		}
	})
}

// A sibling subdomain can plant a cookie for the parent domain. Served securely, the
// login CSRF cookie is a "__Host-" cookie (only this host can set it) and a planted
// plain-named cookie with a matching form token is not accepted.
func TestLoginCSRFCookieIsAHostCookieWhenSecureAndAPlantedPlainOneIsIgnored(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, func(c *authserver.Config) { c.Issuer = "https://auth.test" })
		b := s.browser(t)
		form := b.get(authserver.PathLogin)
		set := form.header.Get("Set-Cookie")
		if !strings.HasPrefix(set, "__Host-oauth_login_csrf=") || !strings.Contains(set, "; Path=/;") ||
			!strings.Contains(set, "Secure") || strings.Contains(strings.ToLower(set), "domain=") {
			t.Fatalf("login CSRF cookie is not a __Host- cookie: %q", set)
		}
		token := form.csrf(t)
		creds := url.Values{"_csrf": {token}, "username": {userEmail}, "password": {userPass}}
		post := func(cookie string) page {
			req, _ := http.NewRequest(http.MethodPost, s.url+authserver.PathLogin, strings.NewReader(creds.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Cookie", cookie)
			// A browser without a jar: only the cookie given is sent.
			return (&browser{t: t, site: s, c: &http.Client{CheckRedirect: b.c.CheckRedirect}}).do(req)
		}
		before := f.dump()
		if p := post("oauth_login_csrf=" + token); p.status != http.StatusForbidden {
			t.Errorf("planted plain-named cookie: status %d, want 403", p.status)
		}
		if f.dump() != before {
			t.Error("a refused login changed the store")
		}
		p := post("__Host-oauth_login_csrf=" + token)
		if p.status != http.StatusSeeOther {
			t.Fatalf("with the __Host- cookie: status %d, want 303", p.status)
		}
		cleared := false
		for _, c := range p.header.Values("Set-Cookie") {
			cleared = cleared || (strings.HasPrefix(c, "__Host-oauth_login_csrf=;") && strings.Contains(c, "Path=/;"))
		}
		if !cleared {
			t.Errorf("login did not delete the __Host- CSRF cookie: %q", p.header.Values("Set-Cookie"))
		}
	})
}

// Over plain http a "__Host-" cookie would be refused by the browser: the plain name on
// the login path stays.
func TestLoginCSRFCookieKeepsItsPlainNameOverHTTP(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		set := s.browser(t).get(authserver.PathLogin).header.Get("Set-Cookie")
		if !strings.HasPrefix(set, "oauth_login_csrf=") || !strings.Contains(set, "Path="+authserver.PathLogin) || strings.Contains(set, "Secure") {
			t.Errorf("login CSRF cookie over http: %q", set)
		}
	})
}
