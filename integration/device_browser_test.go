package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// TestBrowserApprovesADeviceWhileItPolls runs the device authorization grant (RFC 8628)
// against real Caddy: a device (golang.org/x/oauth2's device flow client) asks for a
// code and polls the token endpoint while a real headless Chromium opens the
// verification URI, signs in, confirms the user code and approves; the device then gets
// its tokens, once, and calls an API behind oauth_guard with them, and the user's
// dashboard lists the device among the authorized applications.
func TestBrowserApprovesADeviceWhileItPolls(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		ctx := newChromium(t)
		artifacts := artifactsDir(t)
		spec := sc.driver + ":" + sc.dsn
		userID := addUser(t, spec)

		up := newUpstream(t)
		auth, api := freePort(t), freePort(t)
		issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
		startCaddy(t, fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		%s
		scope orders:read Read your orders
		scope orders:write Change your orders
		device_code_ttl 3m
		device_poll_interval 2s
		client tv {
			name "Living Room TV"
			grants device_code refresh_token
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
`, auth, issuer, sc.directive(), api, issuer, issuer, strings.TrimPrefix(up.URL, "http://")))

		device := oauth2.Config{
			ClientID: "tv",
			Endpoint: oauth2.Endpoint{
				DeviceAuthURL: issuer + "/oauth/device/code",
				TokenURL:      issuer + "/oauth/token",
				AuthStyle:     oauth2.AuthStyleInParams,
			},
			Scopes: []string{"orders:read", "orders:write"},
		}
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		da, err := device.DeviceAuth(rctx)
		cancel()
		if err != nil {
			t.Fatalf("device authorization: %v", err)
		}
		if da.VerificationURI != issuer+"/oauth/device" || !strings.HasPrefix(da.VerificationURIComplete, da.VerificationURI+"?user_code=") ||
			len(da.UserCode) != 9 || da.Interval != 2 || time.Until(da.Expiry) > 3*time.Minute || time.Until(da.Expiry) < 2*time.Minute {
			t.Fatalf("device authorization answer %+v", da)
		}

		// The device polls from now on, as a real one would, at the interval it was given
		// (slowing down if told to); the deadline leaves room for a loaded machine.
		type polled struct {
			tok *oauth2.Token
			err error
		}
		got := make(chan polled, 1)
		pctx, stopPolling := context.WithTimeout(context.Background(), 3*time.Minute)
		defer stopPolling()
		go func() {
			tok, err := device.DeviceAccessToken(pctx, da)
			got <- polled{tok, err}
		}()

		// The person opens verification_uri_complete: sign in, and the code is filled in.
		if err := chromedp.Do(ctx,
			chromedp.Navigate(da.VerificationURIComplete),
			chromedp.WaitVisible(chromedp.CSS(`#username`)),
		); err != nil {
			t.Fatalf("opening the verification URI: %v", err)
		}
		for i, step := range []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(chromedp.CSS(`#username`), userEmail),
			chromedp.SendKeys(chromedp.CSS(`#password`), userPass),
			chromedp.Click(chromedp.CSS(`#sign-in`)),
			chromedp.WaitVisible(chromedp.CSS(`#continue`)),
		} {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := chromedp.Do(sctx, step)
			cancel()
			if err != nil {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				screenshot(t, ctx, artifacts, "device-failed-"+sc.driver+".png")
				t.Fatalf("signing in and entering the code, step %d: %v (at %s)", i, err, loc)
			}
		}
		filled, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#user_code`)))
		if err != nil || filled != da.UserCode {
			t.Errorf("the code field holds %q (%v), want %q", filled, err, da.UserCode)
		}
		sctx, cancelStep := context.WithTimeout(ctx, 30*time.Second)
		err = chromedp.Do(sctx, chromedp.Click(chromedp.CSS(`#continue`)), chromedp.WaitVisible(chromedp.CSS(`#approve`)))
		cancelStep()
		if err != nil {
			screenshot(t, ctx, artifacts, "device-failed-"+sc.driver+".png")
			t.Fatalf("entering the code: %v", err)
		}
		confirmText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
		if err != nil {
			t.Fatalf("reading the confirmation page: %v", err)
		}
		for _, want := range []string{"Living Room TV", da.UserCode, "Read your orders", "Change your orders", userEmail} {
			if !strings.Contains(confirmText, want) {
				t.Errorf("confirmation page lacks %q:\n%s", want, confirmText)
			}
		}
		screenshot(t, ctx, artifacts, "device-confirm-"+sc.driver+".png")
		// The device is still waiting: nothing has been approved yet.
		select {
		case p := <-got:
			t.Fatalf("the device got an answer before approval: %+v %v", p.tok, p.err)
		default:
		}
		sctx, cancelStep = context.WithTimeout(ctx, 30*time.Second)
		err = chromedp.Do(sctx, chromedp.Click(chromedp.CSS(`#approve`)), chromedp.WaitVisible(chromedp.CSS(`#device-done`)))
		cancelStep()
		if err != nil {
			t.Fatalf("approving: %v", err)
		}
		screenshot(t, ctx, artifacts, "device-done-"+sc.driver+".png")

		var p polled
		select {
		case p = <-got:
		case <-pctx.Done():
			t.Fatal("the device never got its tokens")
		}
		if p.err != nil {
			t.Fatalf("polling: %v", p.err)
		}
		if p.tok.RefreshToken == "" || p.tok.Extra("scope") != "orders:read orders:write" {
			t.Errorf("token: refresh %q scope %v", p.tok.RefreshToken, p.tok.Extra("scope"))
		}
		r := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/orders", api), p.tok.AccessToken, nil)
		if r.status != http.StatusOK {
			t.Fatalf("the guard refused the device's token: %d %v", r.status, r.body)
		}
		if h, _ := up.seen(); h.Get("X-Oauth-User-Id") != userID || h.Get("X-Oauth-Client-Id") != "tv" {
			t.Errorf("identity headers %v, want user %s and client tv", h, userID)
		}

		// The device code is dead once used.
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {da.DeviceCode}, "client_id": {"tv"}}
		again, err := http.PostForm(issuer+"/oauth/token", form)
		if err != nil {
			t.Fatal(err)
		}
		again.Body.Close()
		if again.StatusCode != http.StatusBadRequest {
			t.Errorf("second exchange of the device code: %d", again.StatusCode)
		}

		// The dashboard lists the device among the applications holding a token.
		sctx, cancelStep = context.WithTimeout(ctx, 30*time.Second)
		err = chromedp.Do(sctx,
			chromedp.Navigate(issuer+"/oauth/dashboard"),
			chromedp.WaitVisible(chromedp.CSS(`#app-list`)),
		)
		cancelStep()
		if err != nil {
			t.Fatalf("opening the dashboard: %v", err)
		}
		apps, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#app-list`)))
		if err != nil {
			t.Fatalf("reading the authorized applications: %v", err)
		}
		if !strings.Contains(apps, "Living Room TV") {
			t.Errorf("authorized applications lack the device:\n%s", apps)
		}
	})
}
