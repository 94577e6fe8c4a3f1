package integration

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestOauth4webapiReadsOpenIDConfiguration has oauth4webapi discover the server as an
// OpenID Provider: /.well-known/openid-configuration, accepted only if its issuer is the
// one asked for, naming userinfo, end session and RS256 ID tokens.
func TestOauth4webapiReadsOpenIDConfiguration(t *testing.T) {
	discoverWithOauth4webapi(t, "oidc", "/.well-known/openid-configuration", func(issuer string) map[string]string {
		return map[string]string{
			"issuer":                 issuer,
			"authorization_endpoint": issuer + "/oauth/authorize",
			"token_endpoint":         issuer + "/oauth/token",
			"jwks_uri":               issuer + "/.well-known/jwks.json",
			"userinfo_endpoint":      issuer + "/oauth/userinfo",
			"end_session_endpoint":   issuer + "/oauth/logout",
		}
	}, map[string][]string{
		"id_token_signing_alg_values_supported": {"RS256"},
		"scopes_supported":                      {"openid", "profile", "email"},
		"response_types_supported":              {"code"},
		"subject_types_supported":               {"public"},
	})
}

// TestOauth4webapiPublicClientSignsInWithOpenIDConnect runs a public client (a
// single-page app) through oauth4webapi as an OpenID Connect relying party while
// Chromium signs in and approves: PKCE, state and nonce; the library requires and
// validates the ID token (RS256 over the JWKS, iss, aud, azp, exp, nonce), reads userinfo
// for its subject, and validates the refresh's new ID token.
func TestOauth4webapiPublicClientSignsInWithOpenIDConnect(t *testing.T) {
	tools := requireNodeClients(t)
	s := startNodeSite(t, "")
	// The browser last: its steps share one deadline from its start (newChromium).
	ctx := newChromium(t)
	var consent string
	res := runNodeScript(t, tools, browserScriptTimeout, "code_flow_oauth4webapi.mjs", map[string]any{
		"issuer":       s.issuer,
		"client_id":    "spa",
		"redirect_uri": s.app.URL + "/callback",
		"scope":        "openid email orders:read",
		"api_url":      s.api,
		"oidc":         true,
	}, browserAnswers(t, ctx, s.app, "node-oauth4webapi-oidc", &consent))

	if !strings.Contains(consent, "Node SPA") {
		t.Errorf("consent screen: %q", consent)
	}
	tok := field(res, "token")
	if field(tok, "has_id_token") != true || field(tok, "has_refresh_token") != true {
		t.Errorf("token %s", mustJSON(tok))
	}
	claims := field(res, "id_token", "claims")
	if str(field(res, "id_token"), "alg") != "RS256" || str(claims, "iss") != s.issuer || str(claims, "sub") != s.userID ||
		!slices.Contains(jsonStrings(field(claims, "aud")), "spa") || str(claims, "email") != userEmail {
		t.Errorf("ID token %s, want RS256 from %s for user %s (%s), aud spa", mustJSON(field(res, "id_token")), s.issuer, s.userID, userEmail)
	}
	if ui := field(res, "userinfo"); str(ui, "sub") != s.userID || str(ui, "email") != userEmail {
		t.Errorf("userinfo %s", mustJSON(ui))
	}
	if st := field(res, "api", "status"); st != float64(200) {
		t.Errorf("the guard answered %s", mustJSON(field(res, "api")))
	}
	ref := field(res, "refreshed")
	rc := field(ref, "id_token", "claims")
	if field(ref, "has_id_token") != true || str(rc, "sub") != s.userID || str(field(ref, "id_token"), "alg") != "RS256" {
		t.Errorf("refresh %s", mustJSON(ref))
	}
	if got := str(res, "refresh_after_revocation", "error"); got != "invalid_grant" {
		t.Errorf("refresh after revocation: %s", mustJSON(field(res, "refresh_after_revocation")))
	}
}

// TestOpenidClientSignsInWithOpenIDConnectAndLogsOut runs a confidential web application
// through openid-client as an OpenID Connect relying party while Chromium signs in and
// approves: scope "openid profile email" with PKCE, state, nonce and max_age; the library
// validates the ID token (RS256 over the JWKS, iss, aud, exp, nonce, auth_time within
// max_age; it does not check at_hash in the code flow), fetches userinfo (and refuses it for another subject),
// refreshes and validates the new ID token; the end-session URL it builds
// (id_token_hint, post_logout_redirect_uri, state) takes the browser to the registered
// post-logout URI with the state, signed out of the server; revoking the refresh token
// ends the access token.
func TestOpenidClientSignsInWithOpenIDConnectAndLogsOut(t *testing.T) {
	s, ctx, res, consent := openidClientCodeFlow(t, "node-openid-client-oidc", func(s *nodeSite) map[string]any {
		return map[string]any{
			"scope":                    "openid profile email orders:read",
			"oidc":                     true,
			"max_age":                  600,
			"post_logout_redirect_uri": s.app.URL + "/logged-out",
		}
	})

	if !strings.Contains(consent, "Node web app") {
		t.Errorf("consent screen: %q", consent)
	}
	if got := str(res, "metadata", "end_session_endpoint"); got != s.issuer+"/oauth/logout" {
		t.Errorf("discovered end_session_endpoint %q", got)
	}
	tok := field(res, "token")
	if field(tok, "has_id_token") != true || field(tok, "has_refresh_token") != true || !strings.EqualFold(str(tok, "token_type"), "bearer") {
		t.Errorf("token %s", mustJSON(tok))
	}
	if got := jsonStrings(str(tok, "scope")); !slices.Contains(got, "openid") || !slices.Contains(got, "orders:read") {
		t.Errorf("granted scope %v", got)
	}

	idt := field(res, "id_token")
	claims := field(idt, "claims")
	if str(idt, "alg") != "RS256" {
		t.Errorf("ID token alg %q, want RS256", str(idt, "alg"))
	}
	if str(claims, "iss") != s.issuer || str(claims, "sub") != s.userID || !slices.Contains(jsonStrings(field(claims, "aud")), "webapp") {
		t.Errorf("ID token claims %s, want iss %s, sub %s, aud webapp", mustJSON(claims), s.issuer, s.userID)
	}
	if field(idt, "nonce_matches") != true {
		t.Error("the ID token's nonce is not the one the library sent")
	}

	ui := field(res, "userinfo")
	if str(ui, "sub") != str(claims, "sub") {
		t.Errorf("userinfo sub %q, ID token sub %q", str(ui, "sub"), str(claims, "sub"))
	}
	if str(ui, "email") != userEmail {
		t.Errorf("userinfo email %q, want %s (scope email)", str(ui, "email"), userEmail)
	}
	if v, ok := field(ui, "email_verified").(bool); ok && v {
		t.Error("userinfo says the built-in user's email is verified; nothing verified it")
	}
	if f := field(res, "userinfo_wrong_subject"); field(f, "succeeded") == true || !strings.Contains(str(f, "cause_message"), `"sub"`) {
		t.Errorf("the library took userinfo for another subject: %s", mustJSON(f))
	}
	if st := field(res, "api", "status"); st != float64(200) {
		t.Errorf("the guard answered %s", mustJSON(field(res, "api")))
	}

	ref := field(res, "refreshed")
	rc := field(ref, "id_token", "claims")
	if field(ref, "has_id_token") != true || field(ref, "id_token", "id_token_changed") != true {
		t.Errorf("refresh gave no new ID token: %s", mustJSON(ref))
	} else if str(rc, "sub") != str(claims, "sub") || str(rc, "iss") != s.issuer || !slices.Contains(jsonStrings(field(rc, "aud")), "webapp") || str(field(ref, "id_token"), "alg") != "RS256" {
		t.Errorf("refreshed ID token claims %s", mustJSON(rc))
	}

	lo := field(res, "logout")
	if str(lo, "end_session_endpoint_used") != s.issuer+"/oauth/logout" {
		t.Errorf("the library built its end-session URL on %q", str(lo, "end_session_endpoint_used"))
	}
	if str(lo, "landed_on") != s.app.URL+"/logged-out" || field(lo, "state_echoed") != true {
		t.Errorf("after end session the browser landed on %q, state echoed %v", str(lo, "landed_on"), field(lo, "state_echoed"))
	}

	// The server's session ended: the dashboard asks the browser to sign in again.
	browserSteps(t, ctx, "node-openid-client-after-logout", "opening the dashboard after end session",
		chromedp.Navigate(s.issuer+"/oauth/dashboard"),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
	)

	if got := field(res, "introspection_after_revocation", "active"); got != false {
		t.Error("the access token is still active after its refresh token was revoked")
	}
}
