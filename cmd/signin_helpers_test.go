package cmd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

var (
	postForm    = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// pageForm is the first form of an HTML page whose body contains marker: its action
// and hidden fields, as a browser would submit them.
func pageForm(t *testing.T, page, marker string) (string, url.Values) {
	t.Helper()
	for _, m := range postForm.FindAllStringSubmatch(page, -1) {
		if !strings.Contains(m[2], marker) {
			continue
		}
		v := url.Values{}
		for _, in := range hiddenInput.FindAllStringSubmatch(m[2], -1) {
			v.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
		return html.UnescapeString(m[1]), v
	}
	t.Fatalf("no form with %q in the page: %.600s", marker, page)
	return "", nil
}

// signInAndAuthorize plays a person at a browser: the authorization code flow (PKCE
// S256) of clientID at the server at base, signing in with username and password on the
// login page and approving on the consent page, each form posted with its CSRF field.
// It returns the token endpoint's answer to the code exchange, authenticated with secret.
func signInAndAuthorize(t *testing.T, base, clientID, secret, redirectURI, username, password string) map[string]any {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, target string, form url.Values) (int, http.Header, string) {
		t.Helper()
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, u.ResolveReference(ref).String(), body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(raw)
	}

	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"state": {"s-1"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	status, hdr, _ := send(http.MethodGet, authserver.PathAuthorize+"?"+q.Encode(), nil)
	// Not signed in: to the login page, and back after it.
	for i := 0; status == http.StatusFound || status == http.StatusSeeOther; i++ {
		if i > 5 {
			t.Fatal("too many redirects")
		}
		loc := hdr.Get("Location")
		if strings.HasPrefix(loc, redirectURI) {
			break
		}
		var page string
		status, hdr, page = send(http.MethodGet, loc, nil)
		if status != http.StatusOK {
			continue
		}
		switch {
		case strings.Contains(page, `name="password"`):
			action, form := pageForm(t, page, `name="password"`)
			form.Set("username", username)
			form.Set("password", password)
			status, hdr, page = send(http.MethodPost, action, form)
			if status != http.StatusSeeOther {
				t.Fatalf("login as %s: %d %.300s", username, status, page)
			}
		case strings.Contains(page, `value="approve"`):
			action, form := pageForm(t, page, `value="approve"`)
			form.Set("decision", "approve")
			status, hdr, _ = send(http.MethodPost, action, form)
		}
	}
	loc, err := url.Parse(hdr.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirectURI) || loc.Query().Get("code") == "" || loc.Query().Get("state") != "s-1" {
		t.Fatalf("the flow did not end at the client with a code: %d %q", status, hdr.Get("Location"))
	}
	tok := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirectURI},
		"code_verifier": {verifier}, "client_id": {clientID}, "client_secret": {secret}}
	status, _, body := send(http.MethodPost, authserver.PathToken, tok)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil || status != http.StatusOK {
		t.Fatalf("code exchange: %d %s", status, body)
	}
	return out
}
