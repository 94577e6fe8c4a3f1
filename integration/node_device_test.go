package integration

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// deviceServerOptions declare the device grant client (a public client, as a TV or a
// command-line tool is) and a 1 s polling interval, so the library's polling, which waits
// the interval the server gives, ends soon after the approval.
const deviceServerOptions = `device_poll_interval 1s
		client tv {
			name "Node TV"
			grants device_code refresh_token
		}`

// chromiumAnswersDevice opens verification_uri_complete in Chromium, signs in if
// signIn, goes on with the user code the page was given, checks that the confirmation
// shows the device's code, and answers with decision ("approve" or "deny").
func chromiumAnswersDevice(t *testing.T, ctx context.Context, step nodeStep, signIn bool, decision, shotName string) {
	t.Helper()
	if step["step"] != "device_authorization" {
		t.Fatalf("unexpected step %v", step["step"])
	}
	browserSteps(t, ctx, shotName, "opening verification_uri_complete", chromedp.Navigate(str(step, "verification_uri_complete")))
	if signIn {
		browserSteps(t, ctx, shotName, "signing in",
			chromedp.WaitVisible(chromedp.CSS(`#username`)),
			chromedp.SendKeys(chromedp.CSS(`#username`), userEmail),
			chromedp.SendKeys(chromedp.CSS(`#password`), userPass),
			chromedp.Click(chromedp.CSS(`#sign-in`)),
		)
	}
	// The page is filled in from verification_uri_complete; a GET looks no code up, so
	// the person goes on to the confirmation.
	browserSteps(t, ctx, shotName, "going on with the filled-in code",
		chromedp.WaitVisible(chromedp.CSS(`#continue`)),
		chromedp.Click(chromedp.CSS(`#continue`)),
		chromedp.WaitVisible(chromedp.CSS(`#`+decision)),
	)
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#confirm-code`)))
	if err != nil {
		t.Fatalf("reading the user code on the confirmation page: %v", err)
	}
	if strings.TrimSpace(shown) != str(step, "user_code") {
		t.Errorf("the confirmation page shows code %q, the device was given %q", shown, str(step, "user_code"))
	}
	browserSteps(t, ctx, shotName, "answering "+decision,
		chromedp.Click(chromedp.CSS(`#`+decision)),
		chromedp.WaitVisible(chromedp.CSS(`#device-done`)),
	)
}

// TestOpenidClientDeviceFlowGetsTokensOncePersonApproves runs a device through
// openid-client: the device authorization request, then the library's own polling,
// while Chromium signs in at verification_uri_complete and approves; the library then
// receives an access token the guard accepts and, for scope openid, an ID token it
// validated, whose subject userinfo confirms. A second device, denied, ends the library's
// polling with access_denied.
func TestOpenidClientDeviceFlowGetsTokensOncePersonApproves(t *testing.T) {
	tools := requireNodeClients(t)
	s := startNodeSite(t, deviceServerOptions)
	// The browser last: its steps share one deadline from its start (newChromium).
	ctx := newChromium(t)
	input := map[string]any{
		"issuer":    s.issuer,
		"client_id": "tv",
		"scope":     "openid orders:read",
		"api_url":   s.api,
		"oidc":      true,
	}
	var asked nodeStep
	res := runNodeScript(t, tools, browserScriptTimeout, "device_flow.mjs", input, func(step nodeStep) any {
		asked = step
		chromiumAnswersDevice(t, ctx, step, true, "approve", "node-device-approve")
		return nil // the library learns the outcome by polling
	})
	if got := str(asked, "verification_uri"); got != s.issuer+"/oauth/device" {
		t.Errorf("verification_uri %q", got)
	}
	if got := field(asked, "interval"); got != float64(1) {
		t.Errorf("interval %v, want 1 (device_poll_interval 1s)", got)
	}
	if !strings.Contains(str(asked, "verification_uri_complete"), "user_code=") {
		t.Errorf("verification_uri_complete %q carries no user code", str(asked, "verification_uri_complete"))
	}
	if got := str(res, "device_authorization_endpoint"); got != s.issuer+"/oauth/device/code" {
		t.Errorf("discovered device_authorization_endpoint %q", got)
	}
	if f := field(res, "polling_failed"); f != nil {
		t.Fatalf("the library's polling ended without tokens: %s", mustJSON(f))
	}
	tok := field(res, "token")
	if !strings.EqualFold(str(tok, "token_type"), "bearer") || field(tok, "has_id_token") != true || field(tok, "has_refresh_token") != true {
		t.Errorf("token %s", mustJSON(tok))
	}
	if got := jsonStrings(str(tok, "scope")); !slices.Contains(got, "openid") || !slices.Contains(got, "orders:read") {
		t.Errorf("granted scope %v", got)
	}
	claims := field(res, "id_token", "claims")
	if str(field(res, "id_token"), "alg") != "RS256" || str(claims, "iss") != s.issuer || str(claims, "sub") != s.userID || !slices.Contains(jsonStrings(field(claims, "aud")), "tv") {
		t.Errorf("ID token %s, want RS256 from %s for user %s and aud tv", mustJSON(field(res, "id_token")), s.issuer, s.userID)
	}
	if _, ok := field(claims, "auth_time").(float64); !ok {
		t.Errorf("the ID token has no auth_time (the approving session's sign-in): %s", mustJSON(claims))
	}
	if got := str(res, "userinfo", "sub"); got != s.userID {
		t.Errorf("userinfo sub %q", got)
	}
	if st := field(res, "api", "status"); st != float64(200) {
		t.Errorf("the guard answered %s", mustJSON(field(res, "api")))
	}
	if h, _ := s.up.seen(); h.Get("X-Oauth-User-Id") != s.userID || h.Get("X-Oauth-Client-Id") != "tv" {
		t.Errorf("identity headers %v, want user %s", h, s.userID)
	}

	// A second device, denied: the same browser session, so no sign-in this time.
	input["scope"] = "orders:read"
	input["oidc"] = false
	res = runNodeScript(t, tools, browserScriptTimeout, "device_flow.mjs", input, func(step nodeStep) any {
		chromiumAnswersDevice(t, ctx, step, false, "deny", "node-device-deny")
		return nil
	})
	if got := str(res, "polling_failed", "error"); got != "access_denied" {
		t.Errorf("denied device: polling ended with %s, want access_denied", mustJSON(res))
	}
}
