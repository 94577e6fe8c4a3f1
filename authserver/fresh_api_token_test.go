package authserver_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

func TestFreshAPITokenCookieCarriesCSRFBoundTokenForTheSession(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if err := f.st.CreateClient(ctx, &store.Client{ID: "pac", Name: "Personal Access Client", Grants: []string{authserver.GrantPersonalAccess}}); err != nil {
			t.Fatal(err)
		}
		s := browserSite(t, f, func(c *authserver.Config) { c.FreshAPITokenCookie = "api_token" })
		anon := s.browser(t)
		if p := anon.get(authserver.PathFreshAPIToken); p.status != http.StatusUnauthorized {
			t.Fatalf("without a session: %d", p.status)
		}
		b := s.browser(t)
		b.login("")
		req, _ := http.NewRequest(http.MethodGet, s.url+authserver.PathFreshAPIToken, nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if p := b.do(req); p.status != http.StatusForbidden || strings.Contains(strings.Join(p.header.Values("Set-Cookie"), ";"), "api_token=") {
			t.Fatalf("cross-site request: %d %v", p.status, p.header)
		}
		p := b.get(authserver.PathFreshAPIToken)
		if p.status != http.StatusNoContent {
			t.Fatalf("fresh token: %d %s", p.status, p.body)
		}
		resp := &http.Response{Header: p.header}
		var tokenCookie, xsrf *http.Cookie
		for _, c := range resp.Cookies() {
			switch c.Name {
			case "api_token":
				tokenCookie = c
			case authserver.XSRFCookie:
				xsrf = c
			}
		}
		if tokenCookie == nil || !tokenCookie.HttpOnly || tokenCookie.Path != "/" || tokenCookie.SameSite != http.SameSiteLaxMode || tokenCookie.MaxAge <= 0 || tokenCookie.MaxAge > 600 {
			t.Fatalf("token cookie %+v", tokenCookie)
		}
		if xsrf == nil || xsrf.HttpOnly || xsrf.Path != "/" || len(xsrf.Value) != 43 {
			t.Fatalf("XSRF cookie %+v", xsrf)
		}
		_, cl := f.claims(tokenCookie.Value)
		if cl["csrf"] != xsrf.Value || cl["sub"] != f.userID || cl["scope"] != "*" || cl["provider"] != "users" || cl["client_id"] != "pac" {
			t.Fatalf("claims %v (xsrf %s)", cl, xsrf.Value)
		}
		// Recorded, so it can be revoked and introspected, but not listed as one of the
		// user's personal access tokens.
		rec, err := f.st.GetAccessToken(ctx, cl["jti"].(string))
		if err != nil || rec.Name != "" {
			t.Fatalf("record %+v %v", rec, err)
		}
		a := &apiClient{browser: b}
		var list []tokenOut
		a.call("GET", authserver.PathPersonalAccessTokens, nil, nil).into(t, &list)
		if len(list) != 0 {
			t.Fatalf("the cookie token is listed as a personal token: %v", list)
		}
	})
}

// Without fresh_api_token_cookie the endpoint does not exist.
func TestFreshAPITokenIsOffUnlessConfigured(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		if p := b.get(authserver.PathFreshAPIToken); p.status != http.StatusNotFound {
			t.Fatalf("%d", p.status)
		}
	})
}
