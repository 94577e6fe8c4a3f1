package integration

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// These tests drive oauth_server with oauth4webapi and openid-client (node_clients_test.go
// runs them). Every browser part (sign-in, consent, device approval, logout) is done by
// Chromium through chromedp, on the server's real pages. They run on SQLite only: what
// they check is the protocol as a third-party client sees it, which the store does not
// change; the store suites cover both stores.

// nodeClientSecret is the secret of both confidential clients (svc and webapp).
const nodeClientSecret = "node-client-secret-0123456789abcdef"

// nodeSite is a running Caddy with an oauth_server and an API behind oauth_guard.
type nodeSite struct {
	issuer string
	api    string // GET needs orders:read
	up     *upstream
	userID string
	app    *appRedirect
}

// startNodeSite starts Caddy with the clients the node tests use; extra goes into the
// oauth_server block (more options or clients). It adds the test user first.
func startNodeSite(t *testing.T, extra string) *nodeSite {
	t.Helper()
	return startNodeSiteWith(t, func(string) string { return extra })
}

// startNodeSiteWith is startNodeSite with the extra options made from the URL of the
// application the browser is sent back to (for clients of their own).
func startNodeSiteWith(t *testing.T, extraFor func(appURL string) string) *nodeSite {
	t.Helper()
	sc := storeCase{"sqlite", testdb.SQLitePath(t)}
	userID := addUser(t, sc.driver+":"+sc.dsn)
	t.Setenv("IT_NODE_CLIENT_SECRET", nodeClientSecret)
	app := newAppRedirect(t)
	up := newUpstream(t)
	auth, api := freePort(t), freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
	startCaddy(t, fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		%s
		scope orders:read Read your orders
		scope orders:write Change your orders
		client svc {
			name "Node service"
			secret {env.IT_NODE_CLIENT_SECRET}
			grants client_credentials
			introspect
		}
		client spa {
			name "Node SPA"
			grants authorization_code refresh_token
			redirect_uri %s/callback
		}
		client webapp {
			name "Node web app"
			secret {env.IT_NODE_CLIENT_SECRET}
			grants authorization_code refresh_token
			redirect_uri %s/callback
			post_logout_redirect_uri %s/logged-out
			introspect
		}
		%s
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
`, auth, issuer, sc.directive(), app.URL, app.URL, app.URL, extraFor(app.URL), api, issuer, issuer, strings.TrimPrefix(up.URL, "http://")))
	return &nodeSite{
		issuer: issuer,
		api:    fmt.Sprintf("http://127.0.0.1:%d/orders", api),
		up:     up,
		userID: userID,
		app:    app,
	}
}

// TestOauth4webapiReadsRFC8414Metadata has oauth4webapi discover the server: the library
// accepts the document only if its issuer is the one asked for.
func TestOauth4webapiReadsRFC8414Metadata(t *testing.T) {
	md := discoverWithOauth4webapi(t, "oauth2", "/.well-known/oauth-authorization-server", func(issuer string) map[string]string {
		return map[string]string{
			"issuer":                 issuer,
			"authorization_endpoint": issuer + "/oauth/authorize",
			"token_endpoint":         issuer + "/oauth/token",
			"jwks_uri":               issuer + "/.well-known/jwks.json",
			"introspection_endpoint": issuer + "/oauth/introspect",
			"revocation_endpoint":    issuer + "/oauth/revoke",
		}
	}, map[string][]string{
		"code_challenge_methods_supported": {"S256"},
		"grant_types_supported":            {"authorization_code", "client_credentials", "refresh_token"},
		"response_types_supported":         {"code"},
		"scopes_supported":                 {"orders:read", "orders:write"},
	})
	if field(md, "authorization_response_iss_parameter_supported") != true {
		t.Errorf("metadata does not announce iss in authorization responses (RFC 9207)")
	}
}

// discoverWithOauth4webapi has oauth4webapi discover a fresh site with algorithm ("oauth2"
// or "oidc"): the library must ask for path and accept the document (it checks the
// issuer), whose members must equal want (made from the issuer) and whose lists must hold
// wantLists. It returns the document.
func discoverWithOauth4webapi(t *testing.T, algorithm, path string, want func(issuer string) map[string]string, wantLists map[string][]string) any {
	t.Helper()
	tools := requireNodeClients(t)
	s := startNodeSite(t, "")
	res := runNodeScript(t, tools, nodeScriptTimeout, "discovery.mjs", map[string]string{"issuer": s.issuer, "algorithm": algorithm}, nil)
	if got := str(res, "requested"); got != path {
		t.Errorf("the library asked for %s", got)
	}
	md := field(res, "metadata")
	for key, w := range want(s.issuer) {
		if got := str(md, key); got != w {
			t.Errorf("metadata %s = %q, want %q", key, got, w)
		}
	}
	for key, ws := range wantLists {
		got := jsonStrings(field(md, key))
		for _, w := range ws {
			if !slices.Contains(got, w) {
				t.Errorf("metadata %s = %v, lacks %s", key, got, w)
			}
		}
	}
	return md
}

// TestOauth4webapiClientCredentialsIntrospectsAndRevokes runs a machine client through
// oauth4webapi: the token it gets passes the library's RFC 9068 access token validation
// and oauth_guard, introspection calls it active with its client and scope, and after the
// library revokes it, inactive.
func TestOauth4webapiClientCredentialsIntrospectsAndRevokes(t *testing.T) {
	tools := requireNodeClients(t)
	s := startNodeSite(t, "")
	res := runNodeScript(t, tools, nodeScriptTimeout, "client_credentials.mjs", map[string]string{
		"issuer":        s.issuer,
		"client_id":     "svc",
		"client_secret": nodeClientSecret,
		"scope":         "orders:read",
		"api_url":       s.api,
		"audience":      "svc", // the default aud is the client id, as Passport does
	}, nil)

	if got := str(res, "token", "token_type"); !strings.EqualFold(got, "bearer") {
		t.Errorf("token_type %q", got)
	}
	if got := str(res, "token", "scope"); got != "orders:read" {
		t.Errorf("granted scope %q", got)
	}
	if e, _ := field(res, "token", "expires_in").(float64); e <= 0 || e > 3600 {
		t.Errorf("expires_in %v", field(res, "token", "expires_in"))
	}
	if field(res, "token", "has_refresh_token") != false {
		t.Error("client credentials gave a refresh token")
	}
	claims := field(res, "access_token_claims")
	if str(claims, "iss") != s.issuer || str(claims, "client_id") != "svc" || str(claims, "scope") != "orders:read" {
		t.Errorf("access token claims %s", mustJSON(claims))
	}
	if st := field(res, "api", "status"); st != float64(http.StatusOK) {
		t.Errorf("the guard answered %s", mustJSON(field(res, "api")))
	}
	if h, n := s.up.seen(); n != 1 || h.Get("X-Oauth-Client-Id") != "svc" || h.Get("X-Oauth-User-Id") != "" {
		t.Errorf("upstream saw %d requests, headers %v", n, h)
	}
	before := field(res, "introspection_before_revocation")
	if field(before, "active") != true || str(before, "client_id") != "svc" || str(before, "scope") != "orders:read" {
		t.Errorf("introspection before revocation %s", mustJSON(before))
	}
	if got := field(res, "introspection_after_revocation", "active"); got != false {
		t.Errorf("introspection after revocation: active %v", got)
	}
}

// chromiumSignsIn opens the authorization URL in Chromium, signs in as the test user and
// approves on the consent screen, so the browser goes on to the client's redirect URI.
// It returns the consent screen's text.
func chromiumSignsIn(t *testing.T, ctx context.Context, authorizationURL, shotName string) string {
	t.Helper()
	browserSteps(t, ctx, shotName, "opening the authorization URL",
		chromedp.Navigate(authorizationURL),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
	)
	browserSteps(t, ctx, shotName, "signing in",
		chromedp.SendKeys(chromedp.CSS(`#username`), userEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), userPass),
		chromedp.Click(chromedp.CSS(`#sign-in`)),
		chromedp.WaitVisible(chromedp.CSS(`#approve`)),
	)
	consent, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
	if err != nil {
		t.Fatalf("reading the consent screen: %v", err)
	}
	browserSteps(t, ctx, shotName, "approving", chromedp.Click(chromedp.CSS(`#approve`)))
	return consent
}

// browserSteps runs a few browser actions with one deadline, and on failure saves a
// screenshot and names the page (without its query).
func browserSteps(t *testing.T, ctx context.Context, shotName, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	// Generous: a login hashes the password with argon2id on a busy two-core machine.
	sctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		screenshot(t, ctx, artifactsDir(t), shotName+"-failed.png")
		t.Fatalf("%s: %v (at %s)", what, err, redactQuery(loc))
	}
}

// redactQuery drops a URL's query, which may carry a code or a token hint, for messages.
func redactQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i] + "?..."
	}
	return u
}

// browserAnswers answers a code-flow script's steps with Chromium: "authorize" signs in
// and approves, then hands back the URL the browser reached at the application's
// redirect URI; "end_session" follows the library's end-session URL and hands back where
// the browser landed. consent receives the consent screen's text.
func browserAnswers(t *testing.T, ctx context.Context, app *appRedirect, shotName string, consent *string) func(nodeStep) any {
	return func(step nodeStep) any {
		t.Helper()
		switch step["step"] {
		case "authorize":
			*consent = chromiumSignsIn(t, ctx, str(step, "authorization_url"), shotName)
			return map[string]string{"callback_url": app.wait(t, "redirect URI")}
		case "end_session":
			browserSteps(t, ctx, shotName, "following the end-session URL",
				chromedp.Navigate(str(step, "end_session_url")),
				chromedp.WaitVisible(chromedp.CSS(`#done`)),
			)
			return map[string]string{"landed_url": app.wait(t, "post-logout redirect URI")}
		}
		t.Fatalf("unexpected step %v", step["step"])
		return nil
	}
}

// browserScriptTimeout bounds a script that waits for Chromium: sign-in (argon2id) and
// consent on a busy machine, plus the library's own requests.
const browserScriptTimeout = 4 * time.Minute

// TestOauth4webapiPublicClientCodeFlowWithPKCERefreshesAndRevokes runs a public client
// through oauth4webapi while Chromium signs in and approves: the library checks the
// authorization response (state, iss), exchanges the code with its PKCE verifier, the
// guard accepts the token and userinfo refuses it (no openid scope) with a challenge the
// library reads, a refresh gives a new access token, once the library revokes the
// refresh token it refreshes no more, and the code does not work twice.
func TestOauth4webapiPublicClientCodeFlowWithPKCERefreshesAndRevokes(t *testing.T) {
	tools := requireNodeClients(t)
	s := startNodeSite(t, "")
	// The browser last: its steps share one deadline from its start (newChromium).
	ctx := newChromium(t)
	var consent string
	res := runNodeScript(t, tools, browserScriptTimeout, "code_flow_oauth4webapi.mjs", map[string]any{
		"issuer":       s.issuer,
		"client_id":    "spa",
		"redirect_uri": s.app.URL + "/callback",
		"scope":        "orders:read orders:write",
		"api_url":      s.api,
		"oidc":         false,
	}, browserAnswers(t, ctx, s.app, "node-oauth4webapi-code", &consent))

	for _, want := range []string{"Node SPA", "Read your orders", "Change your orders"} {
		if !strings.Contains(consent, want) {
			t.Errorf("consent screen lacks %q", want)
		}
	}
	tok := field(res, "token")
	if !strings.EqualFold(str(tok, "token_type"), "bearer") || str(tok, "scope") != "orders:read orders:write" || field(tok, "has_refresh_token") != true {
		t.Errorf("token %s", mustJSON(tok))
	}
	// Userinfo refuses a token without openid, with a challenge the library reads.
	if r := field(res, "userinfo_refused"); field(r, "status") != float64(http.StatusForbidden) || !hasChallenge(r, "bearer", "insufficient_scope", "openid") {
		t.Errorf("userinfo with a token without openid: %s", mustJSON(r))
	}
	if st := field(res, "api", "status"); st != float64(http.StatusOK) {
		t.Errorf("the guard answered %s", mustJSON(field(res, "api")))
	}
	if h, _ := s.up.seen(); h.Get("X-Oauth-User-Id") != s.userID || h.Get("X-Oauth-Client-Id") != "spa" {
		t.Errorf("identity headers %v, want user %s", h, s.userID)
	}
	if got := str(res, "code_replay", "error"); got != "invalid_grant" {
		t.Errorf("the code exchanged a second time: %s", mustJSON(field(res, "code_replay")))
	}
	ref := field(res, "refreshed")
	if field(ref, "access_token_changed") != true || str(ref, "scope") != "orders:read orders:write" || field(ref, "has_refresh_token") != true {
		t.Errorf("refresh %s", mustJSON(ref))
	}
	if st := field(res, "api_after_refresh", "status"); st != float64(http.StatusOK) {
		t.Errorf("the guard refused the refreshed token: %s", mustJSON(field(res, "api_after_refresh")))
	}
	if got := str(res, "refresh_after_revocation", "error"); got != "invalid_grant" {
		t.Errorf("refresh after revocation: %s", mustJSON(field(res, "refresh_after_revocation")))
	}
}

// TestOpenidClientConfidentialCodeFlowWithPKCEIntrospectsRefreshesAndRevokes runs a
// confidential web application through openid-client (client_secret_basic, RFC 8414
// discovery) while Chromium signs in and approves: the library processes the callback
// (state, iss, PKCE), the guard accepts the token, introspection calls it active for the
// user, a refresh gives a new access token, and revoking the refresh token makes its
// access token inactive and refreshing fail.
func TestOpenidClientConfidentialCodeFlowWithPKCEIntrospectsRefreshesAndRevokes(t *testing.T) {
	s, _, res, consent := openidClientCodeFlow(t, "node-openid-client-code", func(*nodeSite) map[string]any {
		return map[string]any{"scope": "orders:read", "oidc": false}
	})

	if !strings.Contains(consent, "Node web app") || !strings.Contains(consent, "Read your orders") {
		t.Errorf("consent screen: %q", consent)
	}
	if got := str(res, "metadata", "token_endpoint"); got != s.issuer+"/oauth/token" {
		t.Errorf("discovered token endpoint %q", got)
	}
	tok := field(res, "token")
	if !strings.EqualFold(str(tok, "token_type"), "bearer") || str(tok, "scope") != "orders:read" || field(tok, "has_refresh_token") != true {
		t.Errorf("token %s", mustJSON(tok))
	}
	if st := field(res, "api", "status"); st != float64(http.StatusOK) {
		t.Errorf("the guard answered %s", mustJSON(field(res, "api")))
	}
	if h, _ := s.up.seen(); h.Get("X-Oauth-User-Id") != s.userID || h.Get("X-Oauth-Client-Id") != "webapp" {
		t.Errorf("identity headers %v, want user %s", h, s.userID)
	}
	in := field(res, "introspection")
	if field(in, "active") != true || str(in, "client_id") != "webapp" || str(in, "sub") != s.userID || str(in, "scope") != "orders:read" {
		t.Errorf("introspection %s, want active for user %s", mustJSON(in), s.userID)
	}
	if ref := field(res, "refreshed"); field(ref, "access_token_changed") != true || field(ref, "has_refresh_token") != true {
		t.Errorf("refresh %s", mustJSON(ref))
	}
	if got := field(res, "introspection_after_revocation", "active"); got != false {
		t.Errorf("the refreshed access token is still active after its refresh token was revoked")
	}
	if got := str(res, "refresh_after_revocation", "error"); got != "invalid_grant" {
		t.Errorf("refresh after revocation: %s", mustJSON(field(res, "refresh_after_revocation")))
	}
}

// hasChallenge tells whether a script's reported refusal carries a WWW-Authenticate
// challenge of the scheme with the error (and the scope, if not empty).
func hasChallenge(refusal any, scheme, errCode, scope string) bool {
	list, _ := field(refusal, "challenges").([]any)
	for _, c := range list {
		if str(c, "scheme") == scheme && str(c, "error") == errCode && (scope == "" || str(c, "scope") == scope) {
			return true
		}
	}
	return false
}

// openidClientCodeFlow runs code_flow_openid_client.mjs, openid-client as the confidential
// "webapp" of a new node site, while Chromium signs in and approves (artifacts under
// name); params gives the script's parameters beyond issuer, client and redirect URI. It
// returns the site, the browser (for steps after the script), the script's result and the
// consent screen's text.
func openidClientCodeFlow(t *testing.T, name string, params func(s *nodeSite) map[string]any) (*nodeSite, context.Context, map[string]any, string) {
	t.Helper()
	tools := requireNodeClients(t)
	s := startNodeSite(t, "")
	// The browser last: its steps share one deadline from its start (newChromium).
	ctx := newChromium(t)
	p := map[string]any{
		"issuer":        s.issuer,
		"client_id":     "webapp",
		"client_secret": nodeClientSecret,
		"redirect_uri":  s.app.URL + "/callback",
		"api_url":       s.api,
	}
	for k, v := range params(s) {
		p[k] = v
	}
	var consent string
	res := runNodeScript(t, tools, browserScriptTimeout, "code_flow_openid_client.mjs", p, browserAnswers(t, ctx, s.app, name, &consent))
	return s, ctx, res, consent
}
