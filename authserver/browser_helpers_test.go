package authserver_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

const (
	webSecret = "web-secret-0123456789abcdef"
	webCB     = "https://client.example/cb"
	webCB2    = "https://client.example/cb2?tenant=7"
	spaCB     = "http://127.0.0.1:9999/callback"
	impCB     = "https://game.example/cb"
	verifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

// challenge is the S256 challenge of verifier (RFC 7636 appendix B).
var challenge = func() string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}()

// site is an authorization server with browser clients, reached as a browser would
// reach it: cookies kept, redirects not followed, so each step can be inspected.
type site struct {
	*fixture
	url string
}

// browserSite adds the browser clients to the fixture's store and serves a server on it
// whose issuer is the request's origin (plain http, so cookies are not Secure and a
// test's cookie jar sends them back). mutate may change the config.
func browserSite(t *testing.T, f *fixture, mutate func(*authserver.Config)) *site {
	t.Helper()
	now := time.Now().UTC()
	for _, c := range []*store.Client{
		{ID: "web", Name: "Web Shop", SecretHash: authserver.HashSecret(webSecret), RedirectURIs: []string{webCB, webCB2}, Grants: []string{"authorization_code", "refresh_token"}},
		{ID: "web2", Name: "Other Shop", SecretHash: authserver.HashSecret(webSecret), RedirectURIs: []string{webCB}, Grants: []string{"authorization_code", "refresh_token"}},
		{ID: "spa", Name: "Single Page", RedirectURIs: []string{spaCB}, Grants: []string{"authorization_code", "refresh_token"}},
		{ID: "imp", Name: "Browser Game", RedirectURIs: []string{impCB}, Grants: []string{"implicit"}},
		{ID: "own", Name: "Our Console", SecretHash: authserver.HashSecret(webSecret), RedirectURIs: []string{webCB}, Grants: []string{"authorization_code"}, FirstParty: true},
	} {
		c.CreatedAt, c.UpdatedAt = now, now
		if err := f.st.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	cfg := f.cfg
	cfg.Issuer = ""
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := authserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &site{fixture: f, url: ts.URL}
}

// browser is one user agent: a cookie jar, and no automatic redirects.
type browser struct {
	t    *testing.T
	site *site
	c    *http.Client
}

func (s *site) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, site: s, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is an HTTP answer with its body read.
type page struct {
	status int
	header http.Header
	body   string
}

// location is the Location header parsed.
func (p page) location(t *testing.T) *url.URL {
	t.Helper()
	loc := p.header.Get("Location")
	if loc == "" {
		t.Fatalf("no Location header; status %d body %.300s", p.status, p.body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf is the _csrf hidden field of the page's (first) form.
func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no _csrf field in page: %.500s", p.body)
	}
	return m[1]
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.site.url+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, header map[string]string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.site.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

// sessionCookie is the browser's session cookie value, "" if none.
func (b *browser) sessionCookie() string {
	u, _ := url.Parse(b.site.url + "/oauth/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == authserver.SessionCookie {
			return c.Value
		}
	}
	return ""
}

// login signs the user in through the login form and returns the answer to the POST.
func (b *browser) login(returnTo string) page {
	b.t.Helper()
	form := b.get(authserver.PathLogin)
	if form.status != http.StatusOK {
		b.t.Fatalf("GET login: %d", form.status)
	}
	v := url.Values{"_csrf": {form.csrf(b.t)}, "username": {userEmail}, "password": {userPass}}
	if returnTo != "" {
		v.Set("return_to", returnTo)
	}
	p := b.post(authserver.PathLogin, v, nil)
	if p.status != http.StatusSeeOther || b.sessionCookie() == "" {
		b.t.Fatalf("login: status %d, session cookie %q", p.status, b.sessionCookie())
	}
	return p
}

// authorizeQuery is an authorization request of the public client with PKCE.
func spaQuery() url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {spaCB},
		"scope": {"orders:read orders:write"}, "state": {"st-123"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

// webQuery is an authorization request of the confidential client, without PKCE.
func webQuery() url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {webCB},
		"scope": {"orders:read"}, "state": {"st-web"},
	}
}

// authorize sends the authorization request (the user is logged in).
func (b *browser) authorize(q url.Values) page {
	b.t.Helper()
	return b.get(authserver.PathAuthorize + "?" + q.Encode())
}

// approve answers the consent page shown for q with decision, using the page's token.
func (b *browser) decide(q url.Values, consent page, decision string) page {
	b.t.Helper()
	form := url.Values{}
	for k, v := range q {
		form[k] = v
	}
	form.Set("_csrf", consent.csrf(b.t))
	form.Set("decision", decision)
	return b.post(authserver.PathAuthorize, form, nil)
}

// codeFor runs the whole browser part for q (login, consent, approve) and returns the
// code the client receives.
func (b *browser) codeFor(q url.Values) string {
	b.t.Helper()
	if b.sessionCookie() == "" {
		b.login("")
	}
	p := b.authorize(q)
	if p.status == http.StatusOK {
		p = b.decide(q, p, "approve")
	}
	loc := p.location(b.t)
	code := loc.Query().Get("code")
	if code == "" {
		b.t.Fatalf("no code in %s", loc)
	}
	return code
}

// exchange posts a token request for a code; secret "" makes a public client request.
func (s *site) exchange(clientID, secret string, form url.Values) tokenReply {
	s.t.Helper()
	form.Set("grant_type", "authorization_code")
	req, _ := http.NewRequest(http.MethodPost, s.url+authserver.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(clientID, secret)
	} else {
		form.Set("client_id", clientID)
		req.Body = io.NopCloser(strings.NewReader(form.Encode()))
		req.ContentLength = int64(len(form.Encode()))
	}
	return s.do(req)
}

// tamper returns token with its first character changed, so it is surely wrong.
func tamper(token string) string {
	if token == "" || token[0] == 'x' {
		return "y" + token[min(1, len(token)):]
	}
	return "x" + token[1:]
}
