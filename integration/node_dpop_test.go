package integration

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestOauth4webapiDPoPWithNoncesPARAndPrivateKeyJWT has oauth4webapi, as a confidential
// client that authenticates with private_key_jwt, must push its authorization requests
// and must use DPoP (require_dpop), sign a user in while Chromium signs in and approves,
// on a server that requires DPoP nonces (dpop_nonce): the push is first refused with
// use_dpop_nonce and passes on the library's retry; the push's proof binds the code, which
// a proof of another key does not redeem; the code exchange and a refresh give DPoP tokens
// whose introspection names the key's thumbprint.
//
// The subtest GuardAcceptsTheDPoPBoundToken needs oauth_guard's DPoP support (RFC 9449 §7),
// built on another branch: it fails until both are merged (guardAcceptsDPoP).
func TestOauth4webapiDPoPWithNoncesPARAndPrivateKeyJWT(t *testing.T) {
	tools := requireNodeClients(t)
	private, set := ecJWK(t, "node-dpop-k1")
	s := startNodeSiteWith(t, func(appURL string) string {
		return fmt.Sprintf(`dpop_nonce
		client dpopkeyed {
			name "Node DPoP app"
			auth_method private_key_jwt
			jwks %s
			grants authorization_code refresh_token
			redirect_uri %s/callback
			require_pushed_authorization_requests
			require_dpop
			introspect
		}`, "`"+set+"`", appURL)
	})
	ctx := newChromium(t)
	var consent string
	res := runNodeScript(t, tools, browserScriptTimeout, "dpop_par_private_key_jwt.mjs", map[string]any{
		"issuer":       s.issuer,
		"client_id":    "dpopkeyed",
		"private_jwk":  private,
		"redirect_uri": s.app.URL + "/callback",
		"scope":        "orders:read",
		"api_url":      s.api,
	}, browserAnswers(t, ctx, s.app, "node-dpop-par", &consent))

	t.Run("Server", func(t *testing.T) {
		algs, _ := field(res, "metadata", "dpop_signing_alg_values_supported").([]any)
		if !slices.Contains(algs, any("ES256")) || str(res, "metadata", "pushed_authorization_request_endpoint") != s.issuer+"/oauth/par" {
			t.Errorf("metadata %s", mustJSON(field(res, "metadata")))
		}
		if got := str(res, "nonce_challenges", "par", "error"); got != "use_dpop_nonce" {
			t.Errorf("the first push was not asked for a nonce: %s", mustJSON(field(res, "nonce_challenges")))
		}
		// The nonce the push's answer carried is still good for the token requests.
		if field(res, "nonce_challenges", "token") != nil || field(res, "nonce_challenges", "refresh") != nil {
			t.Errorf("a token request was asked for a nonce again: %s", mustJSON(field(res, "nonce_challenges")))
		}
		if !strings.Contains(consent, "Node DPoP app") {
			t.Errorf("consent screen %q", consent)
		}
		if got := str(res, "other_key_exchange", "error"); got != "invalid_grant" {
			t.Errorf("the code redeemed with another key's proof: %s", mustJSON(field(res, "other_key_exchange")))
		}
		if tok := field(res, "token"); str(tok, "token_type") != "dpop" || str(tok, "scope") != "orders:read" || field(tok, "has_refresh_token") != true {
			t.Errorf("token %s", mustJSON(tok))
		}
		if str(res, "refreshed", "token_type") != "dpop" {
			t.Errorf("refreshed %s", mustJSON(field(res, "refreshed")))
		}
		jkt := str(res, "jkt")
		if in := field(res, "introspection"); field(in, "active") != true || str(in, "token_type") != "DPoP" || jkt == "" || str(in, "cnf_jkt") != jkt {
			t.Errorf("introspection %s, key thumbprint %q", mustJSON(in), jkt)
		}
	})

	t.Run("GuardAcceptsTheDPoPBoundToken", func(t *testing.T) { guardAcceptsDPoP(t, res) })
}

// guardAcceptsDPoP checks what a script's guarded-API step saw (RFC 9449 §7): the
// DPoP-bound token with a proof of its key is let through; sent as a Bearer token, or
// with a proof of another key, it is refused with 401.
//
// NEEDS oauth_guard's DPoP support, built on another branch (the guard helper's): until
// it is merged the guard takes DPoP tokens for plain bearer tokens and this fails. Run
// after merging: go test ./integration -run 'DPoP'.
func guardAcceptsDPoP(t *testing.T, res nodeStep) {
	t.Helper()
	if st := field(res, "api", "status"); st != float64(http.StatusOK) {
		t.Errorf("the guard refused the token with a proof of its key: %s", mustJSON(field(res, "api")))
	}
	if st := field(res, "api_as_bearer", "status"); st != float64(http.StatusUnauthorized) {
		t.Errorf("the guard answered the DPoP-bound token sent as a Bearer token with %s", mustJSON(field(res, "api_as_bearer")))
	}
	if st := field(res, "api_other_key", "status"); st != float64(http.StatusUnauthorized) {
		t.Errorf("the guard answered the token with another key's proof with %s", mustJSON(field(res, "api_other_key")))
	}
}

// TestOauth4webapiDPoPClientCredentialsWithNonces is the same without a browser: a
// private_key_jwt machine client registered with require_dpop, on a server requiring
// nonces. Its first token request gets use_dpop_nonce and passes on the library's retry;
// the next one needs no retry (the answer carried a nonce); a request without a proof is
// refused with invalid_dpop_proof; introspection names the key's thumbprint.
func TestOauth4webapiDPoPClientCredentialsWithNonces(t *testing.T) {
	tools := requireNodeClients(t)
	private, set := ecJWK(t, "node-dpop-cc")
	s := startNodeSite(t, fmt.Sprintf(`dpop_nonce
		client dpopsvc {
			name "Node DPoP service"
			auth_method private_key_jwt
			jwks %s
			grants client_credentials
			require_dpop
			introspect
		}`, "`"+set+"`"))
	res := runNodeScript(t, tools, nodeScriptTimeout, "dpop_client_credentials.mjs", map[string]any{
		"issuer":      s.issuer,
		"client_id":   "dpopsvc",
		"private_jwk": private,
		"scope":       "orders:read",
		"api_url":     s.api,
	}, nil)

	t.Run("Server", func(t *testing.T) {
		algs, _ := field(res, "metadata", "dpop_signing_alg_values_supported").([]any)
		if !slices.Contains(algs, any("ES256")) || slices.Contains(algs, any("HS256")) {
			t.Errorf("metadata %s", mustJSON(field(res, "metadata")))
		}
		if got := str(res, "without_proof", "error"); got != "invalid_dpop_proof" {
			t.Errorf("a require_dpop client without a proof: %s", mustJSON(field(res, "without_proof")))
		}
		if got := str(res, "nonce_challenges", "token", "error"); got != "use_dpop_nonce" {
			t.Errorf("the first proof was not asked for a nonce: %s", mustJSON(field(res, "nonce_challenges")))
		}
		if field(res, "nonce_challenges", "second_token") != nil {
			t.Errorf("the second request was asked for a nonce again: %s", mustJSON(field(res, "nonce_challenges")))
		}
		if str(res, "token", "token_type") != "dpop" || str(res, "token", "scope") != "orders:read" || str(res, "second_token", "token_type") != "dpop" {
			t.Errorf("tokens %s %s", mustJSON(field(res, "token")), mustJSON(field(res, "second_token")))
		}
		jkt := str(res, "jkt")
		if in := field(res, "introspection"); field(in, "active") != true || str(in, "token_type") != "DPoP" || jkt == "" || str(in, "cnf_jkt") != jkt {
			t.Errorf("introspection %s, key thumbprint %q", mustJSON(in), jkt)
		}
	})
	t.Run("GuardAcceptsTheDPoPBoundToken", func(t *testing.T) { guardAcceptsDPoP(t, res) })
}
