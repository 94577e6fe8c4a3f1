package integration

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const oidcSecret = "rp-secret-0123456789abcdef"

// formCSRF finds a page form's CSRF field.
var formCSRF = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// formBrowser walks the server's real login and consent pages as a browser would: a
// cookie jar, forms posted with the CSRF fields the pages carry, redirects inspected
// rather than followed. (The Chromium tests click the same pages; this keeps the OpenID
// Connect checks fast.)
type formBrowser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newFormBrowser(t *testing.T, base string) *formBrowser {
	jar, _ := cookiejar.New(nil)
	return &formBrowser{t: t, base: base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// fetch does one request and returns the status, the Location header and the body.
func (b *formBrowser) fetch(method, target string, form url.Values) (int, string, string) {
	b.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.base + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(raw)
}

func (b *formBrowser) csrf(page string) string {
	b.t.Helper()
	m := formCSRF.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF field on the page: %.400s", page)
	}
	return m[1]
}

// authorize follows an authorization URL through sign-in and consent (approving) to the
// redirect URI, and returns where the browser was sent.
func (b *formBrowser) authorize(authURL string) *url.URL {
	b.t.Helper()
	status, loc, page := b.fetch(http.MethodGet, authURL, nil)
	for range 6 {
		switch {
		case status == http.StatusOK && strings.Contains(page, `name="password"`):
			returnTo := regexp.MustCompile(`name="return_to" value="([^"]+)"`).FindStringSubmatch(page)
			form := url.Values{"_csrf": {b.csrf(page)}, "username": {userEmail}, "password": {userPass}}
			if returnTo != nil {
				form.Set("return_to", html.UnescapeString(returnTo[1]))
			}
			status, loc, page = b.fetch(http.MethodPost, "/oauth/login", form)
		case status == http.StatusOK && strings.Contains(page, `name="decision"`):
			form := url.Values{"decision": {"approve"}}
			for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
				form.Set(m[1], html.UnescapeString(m[2]))
			}
			status, loc, page = b.fetch(http.MethodPost, "/oauth/authorize", form)
		case loc != "" && strings.HasPrefix(loc, "/"):
			status, loc, page = b.fetch(http.MethodGet, loc, nil)
		case loc != "":
			u, err := url.Parse(loc)
			if err != nil {
				b.t.Fatal(err)
			}
			return u
		default:
			b.t.Fatalf("stuck at %d: %.400s", status, page)
		}
	}
	b.t.Fatal("too many steps")
	return nil
}

// A relying party written with golang.org/x/oauth2 and coreos/go-oidc signs a user in
// against oauth_server in a real Caddy: discovery, the code flow with PKCE and a nonce,
// ID token verification (RS256, iss, aud, nonce, at_hash), userinfo. The access token
// then calls an API behind oauth_guard, which hands the upstream the user's email from
// the token's claims; the ID token presented to the same guard is refused. Finally the
// relying party logs the user out with the id_token_hint and a registered URI.
func TestOpenIDConnectRelyingPartyAgainstCaddy(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		userID := addUser(t, sc.driver+":"+sc.dsn)
		t.Setenv("IT_RP_SECRET", oidcSecret)
		auth, api := freePort(t), freePort(t)
		up := newUpstream(t)
		issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
		const callback, signedOut = "https://rp.example/cb", "https://rp.example/bye"
		startCaddy(t, fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:%d {
	oauth_server {
		%s
		scope orders:read Read your orders
		client rp {
			secret {env.IT_RP_SECRET}
			grants authorization_code refresh_token
			redirect_uri %s
			post_logout_redirect_uri %s
		}
	}
}
http://127.0.0.1:%d {
	oauth_guard {
		jwks %s/.well-known/jwks.json
		issuer %s
		scopes all orders:read
		header X-User-Email {oauth.claim.email}
	}
	reverse_proxy %s
}
`, auth, sc.directive(), callback, signedOut, api, issuer, issuer, strings.TrimPrefix(up.URL, "http://")))

		ctx := context.Background()
		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		conf := oauth2.Config{ClientID: "rp", ClientSecret: oidcSecret, Endpoint: provider.Endpoint(), RedirectURL: callback,
			Scopes: []string{oidc.ScopeOpenID, "email", "orders:read"}}
		verifierValue := oauth2.GenerateVerifier()
		sum := sha256.Sum256([]byte("nonce-" + sc.driver))
		nonce := base64.RawURLEncoding.EncodeToString(sum[:])
		authURL := conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifierValue), oidc.Nonce(nonce))

		b := newFormBrowser(t, issuer)
		back := b.authorize(authURL)
		if back.Query().Get("state") != "st-1" || back.Query().Get("iss") != issuer {
			t.Fatalf("callback %s", back)
		}
		tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifierValue))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&oidc.Config{ClientID: "rp"}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("go-oidc refuses the ID token: %v", err)
		}
		if idt.Subject != userID || idt.Nonce != nonce {
			t.Fatalf("ID token sub %q nonce %q", idt.Subject, idt.Nonce)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		info, err := provider.UserInfo(ctx, conf.TokenSource(ctx, tok))
		if err != nil || info.Subject != userID || info.Email != userEmail {
			t.Fatalf("userinfo: %+v %v", info, err)
		}

		apiURL := fmt.Sprintf("http://127.0.0.1:%d/orders", api)
		if r := call(t, http.MethodGet, apiURL, tok.AccessToken, map[string]string{"X-User-Email": "spoofed@example.com"}); r.status != http.StatusOK {
			t.Fatalf("API with the access token: %d %v", r.status, r.body)
		}
		if h, _ := up.seen(); h.Get("X-User-Email") != userEmail || h.Get("X-OAuth-User-Id") != userID {
			t.Fatalf("upstream got email %q, user %q", h.Get("X-User-Email"), h.Get("X-OAuth-User-Id"))
		}
		if r := call(t, http.MethodGet, apiURL, rawID, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("API with the ID token: %d, want 401", r.status)
		}

		// RP-initiated logout with the hint: signed out, sent back with the state.
		q := url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {signedOut}, "state": {"bye"}}
		if status, loc, _ := b.fetch(http.MethodGet, issuer+"/oauth/logout?"+q.Encode(), nil); status != http.StatusFound || loc != signedOut+"?state=bye" {
			t.Fatalf("logout: %d %s", status, loc)
		}
		if status, loc, _ := b.fetch(http.MethodGet, authURL, nil); status != http.StatusFound || !strings.HasPrefix(loc, "/oauth/login") {
			t.Fatalf("after logout the browser is still signed in: %d %s", status, loc)
		}
	})
}
