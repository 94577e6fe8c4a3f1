package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// chromiumPath finds the Debian chromium. Without it the browser tests are skipped
// locally, but fail under CI=true, where a silently skipped suite would hide a break.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (CI=true: the browser tests must run; apt-get install chromium)")
	}
	t.Skip("chromium is not installed; apt-get install chromium to run the browser tests")
	return ""
}

// artifactsDir is where screenshots go: $OAUTH_ARTIFACTS, or a temporary directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("OAUTH_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newChromium starts a headless Chromium with a fresh profile, for one test.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(480, 900), // a phone-sized window: the pages must work there
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first call starts the browser, which lives as long as its context: so no
	// timeout on that one; the steps after it get one.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// callback is the client application's redirect URI: it hands each request's query to
// the test.
type callback struct {
	*httptest.Server
	got chan url.Values
}

func newCallback(t *testing.T) *callback {
	c := &callback{got: make(chan url.Values, 4)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		c.got <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><title>Done</title><p id="done">Back at the application.</p>`)
	}))
	t.Cleanup(c.Close)
	return c
}

// wait returns the next request the callback received.
func (c *callback) wait(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-c.got:
		return q
	case <-time.After(30 * time.Second):
		t.Fatal("the browser never reached the client's redirect URI")
		return nil
	}
}

// screenshot saves the page as a PNG artifact.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestBrowserLogsInConsentsAndClientExchangesCodeWithPKCE drives a real headless
// Chromium through the authorization code flow of a public client using
// golang.org/x/oauth2 with PKCE: login, the consent screen with the scopes'
// descriptions, approve, the code at the client's callback, the exchange, and the token
// accepted by oauth_guard; then a second client's request denied gives access_denied.
func TestBrowserLogsInConsentsAndClientExchangesCodeWithPKCE(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		ctx := newChromium(t)
		artifacts := artifactsDir(t)
		spec := sc.driver + ":" + sc.dsn
		userID := addUser(t, spec)

		cb := newCallback(t)
		up := newUpstream(t)
		auth, api := freePort(t), freePort(t)
		issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
		startCaddy(t, fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		%s
		scope orders:read Read your orders
		scope orders:write Change your orders
		default_scope orders:read
		client spa {
			name "Orders SPA"
			grants authorization_code refresh_token
			redirect_uri %s/callback
		}
		client other {
			name "Another App"
			grants authorization_code
			redirect_uri %s/callback
		}
	}
}
http://127.0.0.1:%d {
	oauth_guard {
		jwks %s/.well-known/jwks.json
		issuer %s
		scopes all orders:read
	}
	reverse_proxy %s
}
`, auth, issuer, sc.directive(), cb.URL, cb.URL, api, issuer, issuer, strings.TrimPrefix(up.URL, "http://")))

		client := oauth2.Config{
			ClientID:    "spa",
			Endpoint:    oauth2.Endpoint{AuthURL: issuer + "/oauth/authorize", TokenURL: issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
			RedirectURL: cb.URL + "/callback",
			Scopes:      []string{"orders:read", "orders:write"},
		}
		verifier := oauth2.GenerateVerifier()
		state := "state-" + oauth2.GenerateVerifier()[:12]

		// Login.
		if err := chromedp.Do(ctx,
			chromedp.Navigate(client.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))),
			chromedp.WaitVisible(chromedp.CSS(`#username`)),
		); err != nil {
			t.Fatalf("opening the authorization URL: %v", err)
		}
		screenshot(t, ctx, artifacts, "login-"+sc.driver+".png")
		for i, step := range []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(chromedp.CSS(`#username`), userEmail),
			chromedp.SendKeys(chromedp.CSS(`#password`), userPass),
			chromedp.Click(chromedp.CSS(`#sign-in`)),
			chromedp.WaitVisible(chromedp.CSS(`#approve`)),
		} {
			sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := chromedp.Do(sctx, step)
			cancel()
			if err != nil {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				screenshot(t, ctx, artifacts, "login-failed-"+sc.driver+".png")
				t.Fatalf("logging in, step %d: %v (at %s)", i, err, loc)
			}
		}
		consentText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
		if err != nil {
			t.Fatalf("reading the consent screen: %v", err)
		}
		// The consent screen names the client and describes each scope.
		for _, want := range []string{"Orders SPA", "Read your orders", "Change your orders", userEmail} {
			if !strings.Contains(consentText, want) {
				t.Errorf("consent screen lacks %q:\n%s", want, consentText)
			}
		}
		screenshot(t, ctx, artifacts, "consent-"+sc.driver+".png")

		// Approve: the client receives the code and exchanges it with its verifier.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#approve`))); err != nil {
			t.Fatalf("approving: %v", err)
		}
		q := cb.wait(t)
		if q.Get("state") != state || q.Get("code") == "" || q.Get("iss") != issuer {
			t.Fatalf("callback got %v", q)
		}
		tok, err := client.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("exchanging the code: %v", err)
		}
		if tok.RefreshToken == "" || tok.Extra("scope") != "orders:read orders:write" {
			t.Errorf("token: refresh %q scope %v", tok.RefreshToken, tok.Extra("scope"))
		}
		r := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/orders", api), tok.AccessToken, nil)
		if r.status != http.StatusOK {
			t.Fatalf("the guard refused the token: %d %v", r.status, r.body)
		}
		if h, _ := up.seen(); h.Get("X-Oauth-User-Id") != userID || h.Get("X-Oauth-Client-Id") != "spa" {
			t.Errorf("identity headers %v, want user %s", h, userID)
		}
		// The code is one-use.
		if _, err := client.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier)); err == nil {
			t.Error("the code was exchanged twice")
		}

		// Deny: another client's request, answered Cancel, reaches it as access_denied.
		other := client
		other.ClientID = "other"
		otherVerifier := oauth2.GenerateVerifier()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(other.AuthCodeURL("deny-state", oauth2.S256ChallengeOption(otherVerifier))),
			chromedp.WaitVisible(chromedp.CSS(`#deny`)),
			chromedp.Click(chromedp.CSS(`#deny`)),
		); err != nil {
			t.Fatalf("denying: %v", err)
		}
		q = cb.wait(t)
		if q.Get("error") != "access_denied" || q.Get("state") != "deny-state" || q.Get("code") != "" {
			t.Fatalf("deny: callback got %v", q)
		}
	})
}

// TestImplicitGrantOptionReachesTheServer checks the Caddyfile wiring of implicit_grant:
// the metadata lists response_type token only when it is set.
func TestImplicitGrantOptionReachesTheServer(t *testing.T) {
	for _, tc := range []struct {
		option, want string
	}{{"", "[code]"}, {"\n\t\timplicit_grant", "[code token]"}} {
		t.Run("option="+strings.TrimSpace(tc.option), func(t *testing.T) {
			sc := storeCase{"sqlite", filepath.Join(t.TempDir(), "oauth.db")}
			port := freePort(t)
			startCaddy(t, fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_server {
		%s%s
	}
}
`, port, sc.directive(), tc.option))
			r := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/.well-known/oauth-authorization-server", port), "", nil)
			if got := fmt.Sprint(r.body["response_types_supported"]); got != tc.want {
				t.Errorf("response_types_supported %s, want %s", got, tc.want)
			}
		})
	}
}
