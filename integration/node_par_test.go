package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// ecJWK makes an EC P-256 key and returns its private JWK (as a map, for the script) and
// the JWK Set of its public half (for the Caddyfile), both under kid.
func ecJWK(t *testing.T, kid string) (map[string]any, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	private, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	public, err := jwk.FromRaw(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []jwk.Key{private, public} {
		if err := k.Set(jwk.KeyIDKey, kid); err != nil {
			t.Fatal(err)
		}
		if err := k.Set(jwk.AlgorithmKey, "ES256"); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := json.Marshal(private)
	var asMap map[string]any
	if err := json.Unmarshal(raw, &asMap); err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(map[string]any{"keys": []jwk.Key{public}})
	return asMap, string(set)
}

// TestOauth4webapiPushesWithPrivateKeyJWT has oauth4webapi, as a confidential client that
// authenticates with private_key_jwt and must push its authorization requests, sign a
// user in while Chromium signs in and approves: discovery lists both, the push is
// accepted (and refused when signed with a key the server does not know), the browser
// carries only client_id and request_uri, the code exchange, introspection and revocation
// authenticate by assertion, and the guard accepts the token.
func TestOauth4webapiPushesWithPrivateKeyJWT(t *testing.T) {
	tools := requireNodeClients(t)
	private, set := ecJWK(t, "node-k1")
	stranger, _ := ecJWK(t, "node-k1") // same kid, another key
	s := startNodeSiteWith(t, func(appURL string) string {
		return fmt.Sprintf(`client keyed {
			name "Node keyed app"
			auth_method private_key_jwt
			jwks %s
			grants authorization_code refresh_token
			redirect_uri %s/callback
			require_pushed_authorization_requests
			introspect
		}`, "`"+set+"`", appURL)
	})
	ctx := newChromium(t)
	var consent string
	res := runNodeScript(t, tools, browserScriptTimeout, "par_private_key_jwt.mjs", map[string]any{
		"issuer":       s.issuer,
		"client_id":    "keyed",
		"private_jwk":  private,
		"stranger_jwk": stranger,
		"redirect_uri": s.app.URL + "/callback",
		"scope":        "orders:read",
		"api_url":      s.api,
	}, browserAnswers(t, ctx, s.app, "node-par-private-key-jwt", &consent))

	md := field(res, "metadata")
	if str(md, "pushed_authorization_request_endpoint") != s.issuer+"/oauth/par" || field(md, "request_uri_parameter_supported") != true ||
		!strings.Contains(mustJSON(field(md, "token_endpoint_auth_methods_supported")), "private_key_jwt") ||
		!strings.Contains(mustJSON(field(md, "token_endpoint_auth_signing_alg_values_supported")), "ES256") {
		t.Errorf("metadata %s", mustJSON(md))
	}
	if field(res, "pushed", "expires_in") != float64(60) || str(res, "pushed", "request_uri_scheme") != "urn:ietf:params:oauth" {
		t.Errorf("push %s", mustJSON(field(res, "pushed")))
	}
	if got := str(res, "stranger_push", "error"); got != "invalid_client" {
		t.Errorf("push signed by an unknown key: %s", mustJSON(field(res, "stranger_push")))
	}
	if !strings.Contains(consent, "Node keyed app") {
		t.Errorf("consent screen %q", consent)
	}
	if tok := field(res, "token"); !strings.EqualFold(str(tok, "token_type"), "bearer") || str(tok, "scope") != "orders:read" || field(tok, "has_refresh_token") != true {
		t.Errorf("token %s", mustJSON(tok))
	}
	if st := field(res, "api", "status"); st != float64(http.StatusOK) {
		t.Errorf("the guard answered %s", mustJSON(field(res, "api")))
	}
	if in := field(res, "introspection"); field(in, "active") != true || str(in, "client_id") != "keyed" {
		t.Errorf("introspection by assertion %s", mustJSON(in))
	}
	if field(res, "introspection_after_revocation", "active") != false {
		t.Errorf("after revocation by assertion %s", mustJSON(field(res, "introspection_after_revocation")))
	}
}
