package integration

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// The first-party cookie flow end to end: a browser logs in to oauth_server, collects
// the cookie token from /oauth/fresh-api-token, and its script calls an API behind
// oauth_guard's `cookie` option with the XSRF-TOKEN value in X-XSRF-TOKEN.
func TestFreshAPITokenCookieReachesTheAPIThroughTheGuard(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		spec := sc.driver + ":" + sc.dsn
		userID := addUser(t, spec)
		runCLI(t, "", "install", "--storage", spec)
		auth, api := freePort(t), freePort(t)
		issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
		up := newUpstream(t)
		startCaddy(t, fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		%s
		fresh_api_token_cookie api_token
	}
}
http://127.0.0.1:%d {
	oauth_guard {
		jwks %s/.well-known/jwks.json
		issuer %s
		subject user
		cookie api_token
	}
	reverse_proxy %s
}`, auth, issuer, sc.directive(), api, issuer, issuer, strings.TrimPrefix(up.URL, "http://")))

		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		get := func(u string, hdr map[string]string) *http.Response {
			req, _ := http.NewRequest("GET", u, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := browser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		page := get(issuer+"/oauth/login", nil)
		body, _ := io.ReadAll(page.Body)
		page.Body.Close()
		m := csrfInput.FindSubmatch(body)
		if m == nil {
			t.Fatalf("no CSRF field on the login page: %.300s", body)
		}
		resp, err := browser.PostForm(issuer+"/oauth/login", url.Values{"_csrf": {string(m[1])}, "username": {userEmail}, "password": {userPass}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		if r := get(issuer+"/oauth/fresh-api-token", nil); r.StatusCode != http.StatusNoContent {
			t.Fatalf("fresh token: %d", r.StatusCode)
		}
		var xsrf string
		for _, c := range jar.Cookies(&url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", api)}) {
			if c.Name == "XSRF-TOKEN" {
				xsrf = c.Value
			}
		}
		if xsrf == "" {
			t.Fatal("no XSRF-TOKEN cookie for the API's origin")
		}
		apiURL := fmt.Sprintf("http://127.0.0.1:%d/me", api)
		if r := get(apiURL, map[string]string{"X-XSRF-TOKEN": xsrf}); r.StatusCode != 200 {
			t.Fatalf("API with the cookie and header: %d", r.StatusCode)
		}
		if h, _ := up.seen(); h.Get("X-Oauth-User-Id") != userID {
			t.Fatalf("upstream saw %v", h)
		}
		_, hits := up.seen()
		if r := get(apiURL, nil); r.StatusCode != 401 {
			t.Fatalf("API with the cookie alone (a forged cross-site request): %d", r.StatusCode)
		}
		if _, after := up.seen(); after != hits {
			t.Fatal("the forged request reached the upstream")
		}
	})
}
