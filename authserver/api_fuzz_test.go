package authserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

// FuzzJSONAPIAndForms sends any body, as a signed-in user with the session's CSRF token,
// to the JSON API's creating and updating calls, and any form to the login and consent
// posts: never a panic, never a 5xx but 503, and the API answers JSON.
func FuzzJSONAPIAndForms(f *testing.F) {
	st, err := sqlite.Open(context.Background(), testdb.SQLitePath(f))
	if err != nil {
		f.Fatal(err)
	}
	fx := newFixture(f, st, nil)
	cfg := fx.cfg
	cfg.Issuer = "" // the request's origin: plain http, so the jar sends the cookies back
	srv, err := authserver.New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	f.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) string {
		resp, err := c.Get(ts.URL + path)
		if err != nil {
			f.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	field := regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	m := field.FindStringSubmatch(get(authserver.PathLogin))
	if m == nil {
		f.Fatal("no CSRF field on the login page")
	}
	resp, err := c.PostForm(ts.URL+authserver.PathLogin, url.Values{"_csrf": {m[1]}, "username": {userEmail}, "password": {userPass}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		f.Fatalf("login: %v", err)
	}
	resp.Body.Close()
	d := regexp.MustCompile(`data-csrf="([^"]+)"`).FindStringSubmatch(get(authserver.PathDashboard))
	if d == nil {
		f.Fatal("no CSRF token on the dashboard")
	}
	csrf := d[1]

	targets := []struct{ method, path, contentType string }{
		{http.MethodPost, authserver.PathClients, "application/json"},
		{http.MethodPut, authserver.PathClients + "/nope", "application/json"},
		{http.MethodPost, authserver.PathPersonalAccessTokens, "application/json"},
		{http.MethodPost, authserver.PathLogin, "application/x-www-form-urlencoded"},
		{http.MethodPost, authserver.PathAuthorize, "application/x-www-form-urlencoded"},
	}
	for _, seed := range []string{
		`{"name":"App","redirect_uris":["https://a.example/cb"],"confidential":true}`,
		`{"name":"App","redirect":"https://a.example/cb, https://b.example/cb"}`,
		`{"name":"cli","scopes":["orders:read"]}`,
		`{"name":"","redirect_uris":[]}`, `{"name":1}`, `[]`, `null`, `{"errors":{}}`, `{"name":"x","extra":1}`,
		`{"name":"` + strings.Repeat("a", 300) + `"}`, "\xff\xfe",
		"_csrf=x&username=a&password=b", "decision=approve&client_id=app&response_type=code",
	} {
		for i := range targets {
			f.Add(uint8(i), seed)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		target := targets[int(which)%len(targets)]
		req, _ := http.NewRequest(target.method, ts.URL+target.path, strings.NewReader(body))
		req.Header.Set("Content-Type", target.contentType)
		req.Header.Set("X-CSRF-TOKEN", csrf)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", target.method, target.path, body, resp.StatusCode, raw)
		}
		if target.contentType == "application/json" && !json.Valid(raw) {
			t.Fatalf("%s %s %q: %d, not JSON: %q", target.method, target.path, body, resp.StatusCode, raw)
		}
	})
}
