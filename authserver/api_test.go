package authserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/passwords"
	"github.com/caddyoauth/caddy-oauth/store"
)

// apiClient is a logged-in browser calling the JSON API with its session's CSRF token.
type apiClient struct {
	*browser
	csrf string
}

var dataCSRF = regexp.MustCompile(`data-csrf="([^"]+)"`)

// apiAs logs email in through the login form and reads the CSRF token from the
// dashboard, as the dashboard's script does.
func apiAs(t *testing.T, s *site, email, password string) *apiClient {
	t.Helper()
	b := s.browser(t)
	form := b.get(authserver.PathLogin)
	p := b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {email}, "password": {password}}, nil)
	if p.status != http.StatusSeeOther || b.sessionCookie() == "" {
		t.Fatalf("login as %s: %d", email, p.status)
	}
	dash := b.get(authserver.PathDashboard)
	m := dataCSRF.FindStringSubmatch(dash.body)
	if dash.status != 200 || m == nil {
		t.Fatalf("dashboard: %d %.300s", dash.status, dash.body)
	}
	return &apiClient{browser: b, csrf: m[1]}
}

// addUser adds a built-in user and returns its id.
func addUser(t *testing.T, st store.Store, email, password string) string {
	t.Helper()
	hash, err := passwords.Bcrypt{Cost: 4}.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{ID: "user-" + strings.Split(email, "@")[0], Email: email, PasswordHash: hash}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// jsonReply is a JSON API answer.
type jsonReply struct {
	status int
	header http.Header
	raw    string
}

func (r jsonReply) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.raw), v); err != nil {
		t.Fatalf("decoding %q: %v", r.raw, err)
	}
}

// call sends a JSON API request; body nil sends none. hdr overrides the CSRF header.
func (a *apiClient) call(method, path string, body any, hdr map[string]string) jsonReply {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = strings.NewReader(string(raw))
	}
	req, _ := http.NewRequest(method, a.site.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(authserver.CSRFHeader, a.csrf)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	p := a.do(req)
	return jsonReply{status: p.status, header: p.header, raw: p.body}
}

type clientOut struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris"`
	Confidential bool     `json:"confidential"`
	Secret       string   `json:"secret"`
}

func TestDashboardNeedsLoginAndIsFramingProofWithNonceScript(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		p := s.browser(t).get(authserver.PathDashboard)
		if loc := p.location(t); p.status != http.StatusFound || loc.Path != authserver.PathLogin || loc.Query().Get("return_to") != authserver.PathDashboard {
			t.Fatalf("without a session: %d %s", p.status, loc)
		}
		a := apiAs(t, s, userEmail, userPass)
		dash := a.get(authserver.PathDashboard)
		csp := dash.header.Get("Content-Security-Policy")
		for _, want := range []string{"frame-ancestors 'none'", "script-src 'nonce-", "connect-src 'self'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %s", csp, want)
			}
		}
		if dash.header.Get("X-Frame-Options") != "DENY" {
			t.Error("no X-Frame-Options")
		}
		for _, want := range []string{"Read orders", "Write orders", userEmail, `<script nonce="`} {
			if !strings.Contains(dash.body, want) {
				t.Errorf("dashboard lacks %q", want)
			}
		}
		if strings.Contains(dash.body, "http://") && strings.Contains(dash.body, "<script src") {
			t.Error("the dashboard loads a script from elsewhere")
		}
	})
}

func TestClientAPICreatesListsUpdatesAndDeletesTheUsersClients(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		a := apiAs(t, s, userEmail, userPass)
		ctx := context.Background()

		r := a.call("POST", authserver.PathClients, map[string]any{"name": " My app ", "redirect_uris": []string{"https://my.app/cb", "http://127.0.0.1:8000/cb", "com.my.app:/cb"}}, nil)
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		var made clientOut
		r.into(t, &made)
		if made.Name != "My app" || !made.Confidential || len(made.Secret) != 43 || len(made.RedirectURIs) != 3 {
			t.Fatalf("created %+v", made)
		}
		rec, err := f.st.GetClient(ctx, made.ID)
		if err != nil || rec.UserID != f.userID || rec.Provider != authserver.DefaultProvider || !rec.HasGrant("authorization_code") {
			t.Fatalf("record %+v %v", rec, err)
		}
		if ok, _ := authserver.VerifySecret(rec.SecretHash, made.Secret); !ok || strings.Contains(f.dump(), made.Secret) {
			t.Fatal("the secret is not stored as its digest")
		}
		pub := a.call("POST", authserver.PathClients, map[string]any{"name": "SPA", "redirect_uris": []string{"https://spa.app/cb"}, "confidential": false}, nil)
		var spa clientOut
		pub.into(t, &spa)
		if pub.status != http.StatusCreated || spa.Confidential || spa.Secret != "" {
			t.Fatalf("public client: %d %s", pub.status, pub.raw)
		}

		var list []clientOut
		lr := a.call("GET", authserver.PathClients, nil, nil)
		lr.into(t, &list)
		if lr.status != 200 || len(list) != 2 || list[0].ID != made.ID || list[0].Secret != "" || strings.Contains(lr.raw, made.Secret) {
			t.Fatalf("list: %d %s", lr.status, lr.raw)
		}

		up := a.call("PUT", authserver.PathClients+"/"+made.ID, map[string]any{"name": "Renamed", "redirect_uris": []string{"https://my.app/callback"}}, nil)
		if up.status != 200 || strings.Contains(up.raw, `"secret"`) {
			t.Fatalf("update: %d %s", up.status, up.raw)
		}
		rec, _ = f.st.GetClient(ctx, made.ID)
		if rec.Name != "Renamed" || strings.Join(rec.RedirectURIs, ",") != "https://my.app/callback" || !rec.Confidential() {
			t.Fatalf("after update %+v", rec)
		}

		// A token the client holds dies with it.
		tok := &store.AccessToken{ID: "tok-of-client", ClientID: made.ID, UserID: f.userID, Provider: "users", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := f.st.CreateAccessToken(ctx, tok, nil); err != nil {
			t.Fatal(err)
		}
		if d := a.call("DELETE", authserver.PathClients+"/"+made.ID, nil, nil); d.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", d.status, d.raw)
		}
		if rec, _ := f.st.GetClient(ctx, made.ID); !rec.Revoked {
			t.Fatal("deleted client not revoked")
		}
		if at, _ := f.st.GetAccessToken(ctx, tok.ID); !at.Revoked {
			t.Fatal("the deleted client's token is not revoked")
		}
		lr = a.call("GET", authserver.PathClients, nil, nil)
		lr.into(t, &list)
		if len(list) != 1 || list[0].ID != spa.ID {
			t.Fatalf("after delete: %s", lr.raw)
		}
		if d := a.call("DELETE", authserver.PathClients+"/"+made.ID, nil, nil); d.status != http.StatusNotFound {
			t.Fatalf("second delete: %d", d.status)
		}
	})
}

func TestClientAPIRefusesInvalidInputWith422AndChangesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		a := apiAs(t, s, userEmail, userPass)
		good := a.call("POST", authserver.PathClients, map[string]any{"name": "Mine", "redirect_uris": []string{"https://ok.example/cb"}}, nil)
		var mine clientOut
		good.into(t, &mine)
		uris := func(u ...string) map[string]any { return map[string]any{"name": "X", "redirect_uris": u} }
		eleven := make([]string, 11)
		for i := range eleven {
			eleven[i] = "https://ok.example/" + string(rune('a'+i))
		}
		before := f.dump()
		for _, c := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"no name", map[string]any{"name": "  ", "redirect_uris": []string{"https://a.example/cb"}}, "name"},
			{"long name", map[string]any{"name": strings.Repeat("n", 256), "redirect_uris": []string{"https://a.example/cb"}}, "name"},
			{"control character in name", map[string]any{"name": "a\x00b", "redirect_uris": []string{"https://a.example/cb"}}, "name"},
			{"no redirect URI", map[string]any{"name": "X"}, "redirect_uris"},
			{"plain http", uris("http://evil.example/cb"), "redirect_uris"},
			{"javascript", uris("javascript:alert(1)"), "redirect_uris"},
			{"data", uris("data:text/html,hi"), "redirect_uris"},
			{"fragment", uris("https://a.example/cb#x"), "redirect_uris"},
			{"relative", uris("/cb"), "redirect_uris"},
			{"userinfo", uris("https://user@a.example/cb"), "redirect_uris"},
			{"space", uris("https://a.example/c b"), "redirect_uris"},
			{"duplicate", uris("https://a.example/cb", "https://a.example/cb"), "redirect_uris"},
			{"too many", uris(eleven...), "redirect_uris"},
		} {
			for _, target := range []struct{ method, path string }{{"POST", authserver.PathClients}, {"PUT", authserver.PathClients + "/" + mine.ID}} {
				r := a.call(target.method, target.path, c.body, nil)
				var body struct {
					Message string              `json:"message"`
					Errors  map[string][]string `json:"errors"`
				}
				r.into(t, &body)
				if r.status != http.StatusUnprocessableEntity || len(body.Errors[c.field]) == 0 || body.Message == "" {
					t.Errorf("%s %s: %d %s", target.method, c.name, r.status, r.raw)
				}
			}
		}
		for _, c := range []struct {
			name   string
			body   string
			ctype  string
			status int
		}{
			{"form body", "name=x", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
			{"unknown field", `{"name":"x","redirect_uris":["https://a.example/cb"],"grants":["password"]}`, "application/json", http.StatusBadRequest},
			{"two objects", `{"name":"x"}{"name":"y"}`, "application/json", http.StatusBadRequest},
			{"wrong type", `{"name":["x"]}`, "application/json", http.StatusBadRequest},
		} {
			req, _ := http.NewRequest("POST", s.url+authserver.PathClients, strings.NewReader(c.body))
			req.Header.Set("Content-Type", c.ctype)
			req.Header.Set(authserver.CSRFHeader, a.csrf)
			if p := a.do(req); p.status != c.status {
				t.Errorf("%s: %d %s", c.name, p.status, p.body)
			}
		}
		if r := a.call("PUT", authserver.PathClients+"/"+mine.ID, map[string]any{"name": "X", "redirect_uris": []string{"https://a.example/cb"}, "confidential": false}, nil); r.status != 422 {
			t.Errorf("changing confidentiality: %d", r.status)
		}
		if after := f.dump(); after != before {
			t.Fatal("refused requests changed the store")
		}
	})
}

// Every state-changing call needs the session's CSRF token, and every call a session.
func TestAPIRefusesMissingOrWrongCSRFTokenWith419(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		a := apiAs(t, s, userEmail, userPass)
		body := map[string]any{"name": "X", "redirect_uris": []string{"https://a.example/cb"}}
		before := f.dump()
		for _, c := range []struct {
			name string
			hdr  map[string]string
		}{
			{"no token", map[string]string{authserver.CSRFHeader: ""}},
			{"wrong token", map[string]string{authserver.CSRFHeader: a.csrf[:len(a.csrf)-2] + "xx"}},
			{"another site's origin", map[string]string{"Origin": "https://evil.example"}},
		} {
			for _, req := range []struct{ method, path string }{
				{"POST", authserver.PathClients}, {"POST", authserver.PathPersonalAccessTokens},
				{"DELETE", authserver.PathTokens + "/x"}, {"PUT", authserver.PathClients + "/x"},
			} {
				if r := a.call(req.method, req.path, body, c.hdr); r.status != 419 {
					t.Errorf("%s %s with %s: %d %s", req.method, req.path, c.name, r.status, r.raw)
				}
			}
		}
		if after := f.dump(); after != before {
			t.Fatal("refused requests changed the store")
		}
		// X-XSRF-TOKEN works like X-CSRF-TOKEN.
		if r := a.call("POST", authserver.PathClients, body, map[string]string{authserver.CSRFHeader: "", "X-XSRF-TOKEN": a.csrf}); r.status != 201 {
			t.Errorf("X-XSRF-TOKEN: %d %s", r.status, r.raw)
		}
		anon := s.browser(t)
		for _, path := range []string{authserver.PathClients, authserver.PathTokens, authserver.PathPersonalAccessTokens} {
			if p := anon.get(path); p.status != http.StatusUnauthorized {
				t.Errorf("GET %s without a session: %d", path, p.status)
			}
		}
	})
}

func TestAPIAnswers404ForAnotherUsersObjects(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		addUser(t, f.st, "mallory@example.com", "mallory password")
		ctx := context.Background()
		if err := f.st.CreateClient(ctx, &store.Client{ID: "pac", Name: "Personal", Grants: []string{authserver.GrantPersonalAccess}}); err != nil {
			t.Fatal(err)
		}
		alice := apiAs(t, s, userEmail, userPass)
		var c clientOut
		alice.call("POST", authserver.PathClients, map[string]any{"name": "Alice's", "redirect_uris": []string{"https://alice.example/cb"}}, nil).into(t, &c)
		var pat struct {
			Token struct{ ID string } `json:"token"`
		}
		alice.call("POST", authserver.PathPersonalAccessTokens, map[string]any{"name": "ci"}, nil).into(t, &pat)
		app := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "app", pwSecret)
		_, cl := f.claims(app.Body["access_token"].(string))
		appTok := cl["jti"].(string)

		mallory := apiAs(t, s, "mallory@example.com", "mallory password")
		before := f.dump()
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"PUT", authserver.PathClients + "/" + c.ID, map[string]any{"name": "Pwned", "redirect_uris": []string{"https://evil.example/cb"}}},
			{"DELETE", authserver.PathClients + "/" + c.ID, nil},
			{"DELETE", authserver.PathClients + "/app", nil}, // a client nobody owns
			{"DELETE", authserver.PathTokens + "/" + appTok, nil},
			{"DELETE", authserver.PathPersonalAccessTokens + "/" + pat.Token.ID, nil},
			{"DELETE", authserver.PathTokens + "/no-such-token", nil},
		} {
			if r := mallory.call(req.method, req.path, req.body, nil); r.status != http.StatusNotFound {
				t.Errorf("%s %s: %d %s", req.method, req.path, r.status, r.raw)
			}
		}
		for _, path := range []string{authserver.PathClients, authserver.PathTokens, authserver.PathPersonalAccessTokens} {
			if r := mallory.call("GET", path, nil, nil); r.status != 200 || r.raw != "[]\n" {
				t.Errorf("GET %s as another user: %d %s", path, r.status, r.raw)
			}
		}
		if after := f.dump(); after != before {
			t.Fatal("another user's requests changed the store")
		}
	})
}

type tokenOut struct {
	ID         string   `json:"id"`
	ClientID   string   `json:"client_id"`
	ClientName string   `json:"client_name"`
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
}

func TestTokensAPIListsAuthorizedAppsAndRevokesAccessAndRefreshToken(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		a := apiAs(t, s, userEmail, userPass)
		got := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {"orders:write"}}, "app", pwSecret)
		_, cl := f.claims(got.Body["access_token"].(string))
		var list []tokenOut
		r := a.call("GET", authserver.PathTokens, nil, nil)
		r.into(t, &list)
		if len(list) != 1 || list[0].ID != cl["jti"] || list[0].ClientName != "App" || strings.Join(list[0].Scopes, " ") != "orders:write" {
			t.Fatalf("tokens: %s", r.raw)
		}
		if strings.Contains(r.raw, got.Body["access_token"].(string)) {
			t.Fatal("the token itself is listed")
		}
		if d := a.call("DELETE", authserver.PathTokens+"/"+list[0].ID, nil, nil); d.status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", d.status, d.raw)
		}
		if at, _ := f.st.GetAccessToken(context.Background(), list[0].ID); !at.Revoked {
			t.Fatal("access token not revoked")
		}
		if rr := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {got.Body["refresh_token"].(string)}}, "app", pwSecret); rr.Status != 400 {
			t.Fatalf("the refresh token still works: %d %v", rr.Status, rr.Body)
		}
		a.call("GET", authserver.PathTokens, nil, nil).into(t, &list)
		if len(list) != 0 {
			t.Fatalf("revoked token still listed: %v", list)
		}
	})
}

func TestPersonalTokensAPIIssuesOnceListsAndRevokes(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		ctx := context.Background()
		a := apiAs(t, s, userEmail, userPass)
		// Without a personal access client the server says so, and issues nothing.
		if r := a.call("POST", authserver.PathPersonalAccessTokens, map[string]any{"name": "ci"}, nil); r.status != http.StatusServiceUnavailable {
			t.Fatalf("without a personal access client: %d %s", r.status, r.raw)
		}
		if err := f.st.CreateClient(ctx, &store.Client{ID: "pac", Name: "Personal Access Client", Grants: []string{authserver.GrantPersonalAccess}}); err != nil {
			t.Fatal(err)
		}
		before := f.dump()
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"name": ""}, "name"},
			{map[string]any{"name": strings.Repeat("x", 256)}, "name"},
			{map[string]any{"name": "x", "scopes": []string{"admin"}}, "scopes"},
			{map[string]any{"name": "x", "scopes": []string{"*"}}, "scopes"},
		} {
			r := a.call("POST", authserver.PathPersonalAccessTokens, c.body, nil)
			if r.status != 422 || !strings.Contains(r.raw, `"`+c.field+`"`) {
				t.Errorf("%v: %d %s", c.body, r.status, r.raw)
			}
		}
		if f.dump() != before {
			t.Fatal("refused token requests changed the store")
		}
		r := a.call("POST", authserver.PathPersonalAccessTokens, map[string]any{"name": "deploy", "scopes": []string{"orders:write", "orders:read"}}, nil)
		var made struct {
			AccessToken string   `json:"access_token"`
			Token       tokenOut `json:"token"`
		}
		r.into(t, &made)
		if r.status != 201 || made.Token.Name != "deploy" || made.Token.ClientName != "Personal Access Client" {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		_, cl := f.claims(made.AccessToken)
		if cl["sub"] != f.userID || cl["scope"] != "orders:write orders:read" || cl["jti"] != made.Token.ID || cl["iss"] != s.url {
			t.Fatalf("claims %v", cl)
		}
		var list []tokenOut
		lr := a.call("GET", authserver.PathPersonalAccessTokens, nil, nil)
		lr.into(t, &list)
		if len(list) != 1 || list[0].ID != made.Token.ID || strings.Contains(lr.raw, made.AccessToken) {
			t.Fatalf("list: %s", lr.raw)
		}
		var apps []tokenOut
		a.call("GET", authserver.PathTokens, nil, nil).into(t, &apps)
		if len(apps) != 0 {
			t.Fatalf("a personal token is listed as an authorized application: %v", apps)
		}
		// An authorized application's token is not a personal token.
		app := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "app", pwSecret)
		_, appCl := f.claims(app.Body["access_token"].(string))
		if d := a.call("DELETE", authserver.PathPersonalAccessTokens+"/"+appCl["jti"].(string), nil, nil); d.status != 404 {
			t.Fatalf("revoking an app token as personal: %d", d.status)
		}
		if d := a.call("DELETE", authserver.PathPersonalAccessTokens+"/"+made.Token.ID, nil, nil); d.status != 204 {
			t.Fatalf("revoke: %d %s", d.status, d.raw)
		}
		if at, _ := f.st.GetAccessToken(ctx, made.Token.ID); !at.Revoked {
			t.Fatal("not revoked")
		}
	})
}

func TestLoginPageIsThrottledLikeThePasswordGrant(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, func(c *authserver.Config) {
			c.LoginThrottle = authserver.LoginThrottle{PerUsername: 2, PerIP: -1, Window: time.Minute}
		})
		b := s.browser(t)
		try := func(pass string) page {
			form := b.get(authserver.PathLogin)
			return b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {userEmail}, "password": {pass}}, nil)
		}
		for range 2 {
			if p := try("wrong"); p.status != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", p.status)
			}
		}
		p := try(userPass)
		if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || b.sessionCookie() != "" {
			t.Fatalf("third attempt: %d %v", p.status, p.header)
		}
		// The password grant shares the count.
		form := url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}
		req, _ := http.NewRequest(http.MethodPost, s.url+authserver.PathToken, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("app", pwSecret)
		if r := f.do(req); r.Status != http.StatusTooManyRequests {
			t.Fatalf("password grant after the page's failures: %d %v", r.Status, r.Body)
		}
	})
}
