package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// TestBrowserDashboardManagesPersonalTokensAndClients drives a real headless Chromium
// through the dashboard: log in, create a personal access token (shown once) that the
// guard accepts, create a client (its secret shown once), then revoke the token and
// delete the client, each after the page's confirmation.
func TestBrowserDashboardManagesPersonalTokensAndClients(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		ctx := newChromium(t)
		artifacts := artifactsDir(t)
		spec := sc.driver + ":" + sc.dsn
		userID := addUser(t, spec)
		runCLI(t, "", "install", "--storage", spec)

		up := newUpstream(t)
		auth, api := freePort(t), freePort(t)
		issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
		startCaddy(t, fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		%s
		scope orders:read Read your orders
		scope orders:write Change your orders
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
`, auth, issuer, sc.directive(), api, issuer, issuer, strings.TrimPrefix(up.URL, "http://")))

		// The page asks before revoking or deleting: accept every confirmation.
		dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
		go func() {
			for _, err := range dialogs {
				if err != nil {
					return
				}
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}
		}()
		step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
			t.Helper()
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := chromedp.Do(sctx, actions...); err != nil {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				screenshot(t, ctx, artifacts, "dashboard-failed-"+sc.driver+".png")
				t.Fatalf("%s: %v (at %s)", what, err, loc)
			}
		}

		// The dashboard sends an anonymous browser to the login form, and back after it.
		step("opening the dashboard", chromedp.Navigate(issuer+"/oauth/dashboard"), chromedp.WaitVisible(chromedp.CSS(`#username`)))
		step("logging in",
			chromedp.SendKeys(chromedp.CSS(`#username`), userEmail),
			chromedp.SendKeys(chromedp.CSS(`#password`), userPass),
			chromedp.Click(chromedp.CSS(`#sign-in`)),
			chromedp.WaitVisible(chromedp.CSS(`#pat-form`)),
			chromedp.WaitVisible(chromedp.CSS(`#pat-empty`)),
		)

		// A personal access token with one scope; the token is shown once.
		step("creating a personal access token",
			chromedp.SendKeys(chromedp.CSS(`#pat-name`), "deploy bot"),
			chromedp.Click(chromedp.CSS(`#pat-form input[value="orders:read"]`)),
			chromedp.Click(chromedp.CSS(`#pat-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`#pat-new`)),
			chromedp.WaitVisible(chromedp.CSS(`#pat-list`)),
			chromedp.Click(chromedp.CSS(`#pat-copy`)),
		)
		token, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#pat-value`)))
		if err != nil || strings.Count(token, ".") != 2 {
			t.Fatalf("token shown: %q %v", token, err)
		}
		if r := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/orders", api), token, nil); r.status != http.StatusOK {
			t.Fatalf("the guard refused the dashboard's token: %d %v", r.status, r.body)
		}
		if h, _ := up.seen(); h.Get("X-Oauth-User-Id") != userID {
			t.Fatalf("identity %v, want user %s", h, userID)
		}

		// A client whose tokens must be DPoP-bound; its secret is shown once.
		step("creating a client",
			chromedp.SendKeys(chromedp.CSS(`#client-name`), "My CLI"),
			chromedp.SendKeys(chromedp.CSS(`#client-uris`), "https://my.app.example/callback"),
			chromedp.Click(chromedp.CSS(`#client-dpop`)),
			chromedp.Click(chromedp.CSS(`#client-submit`)),
			chromedp.WaitVisible(chromedp.CSS(`#client-new`)),
			chromedp.WaitVisible(chromedp.CSS(`#client-list`)),
		)
		secret, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#client-secret`)))
		if err != nil || len(secret) != 43 {
			t.Fatalf("client secret shown: %q %v", secret, err)
		}
		list, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#client-list`)))
		if !strings.Contains(list, "My CLI") || !strings.Contains(list, "https://my.app.example/callback") {
			t.Fatalf("client list: %s", list)
		}
		screenshot(t, ctx, artifacts, "dashboard-"+sc.driver+".png")
		st, err := drivers.Open(context.Background(), sc.driver, sc.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		clients, _ := st.ListClientsByOwner(context.Background(), "users", userID)
		if len(clients) != 1 || !clients[0].RequireDPoP {
			t.Fatalf("the client made with DPoP ticked: %+v", clients)
		}
		// Editing shows the setting; unticked and saved, it is lifted.
		step("editing the client",
			chromedp.Click(chromedp.CSS(`#client-list button[aria-label="Edit client My CLI"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#client-cancel`)),
		)
		if ticked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("client-dpop").checked`)); err != nil || !ticked {
			t.Fatalf("the edit form does not show the DPoP setting: %v %v", ticked, err)
		}
		step("saving the client without DPoP",
			chromedp.Click(chromedp.CSS(`#client-dpop`)),
			chromedp.Click(chromedp.CSS(`#client-submit`)),
			chromedp.WaitNotVisible(chromedp.CSS(`#client-cancel`)),
		)
		if clients, _ = st.ListClientsByOwner(context.Background(), "users", userID); len(clients) != 1 || clients[0].RequireDPoP {
			t.Fatalf("after unticking DPoP: %+v", clients)
		}

		// Revoke the token and delete the client.
		step("revoking the token",
			chromedp.Click(chromedp.CSS(`#pat-list button[aria-label="Revoke token deploy bot"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#pat-empty`)),
		)
		step("deleting the client",
			chromedp.Click(chromedp.CSS(`#client-list button[aria-label="Delete client My CLI"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#client-empty`)),
		)
		toks, err := st.ListAccessTokens(context.Background(), userID)
		if err != nil || len(toks) != 1 || !toks[0].Revoked || toks[0].Name != "deploy bot" {
			t.Fatalf("tokens after revoking: %+v %v", toks, err)
		}
		clients, _ = st.ListClientsByOwner(context.Background(), "users", userID)
		if len(clients) != 0 {
			t.Fatalf("clients after deleting: %+v", clients)
		}
	})
}
