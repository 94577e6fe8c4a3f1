package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

const parSecret = "par-secret-0123456789abcdef"

// A client declared in the Caddyfile with require_pushed_authorization_requests, in a
// real Caddy: the metadata names the PAR endpoint; the client is refused at
// /oauth/authorize without a request_uri; it pushes its request (PKCE included), the
// browser signs in and consents with only client_id and request_uri, golang.org/x/oauth2
// exchanges the code; the request_uri is then spent.
func TestPushedAuthorizationRequestsThroughCaddy(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		addUser(t, sc.driver+":"+sc.dsn)
		t.Setenv("IT_PAR_SECRET", parSecret)
		auth := freePort(t)
		issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
		const callback = "https://par.example/cb"
		startCaddy(t, fmt.Sprintf(`{
	admin off
}
http://127.0.0.1:%d {
	oauth_server {
		%s
		scope orders:read Read your orders
		client strict {
			secret {env.IT_PAR_SECRET}
			grants authorization_code refresh_token
			redirect_uri %s
			require_pushed_authorization_requests
		}
	}
}
`, auth, sc.directive(), callback))

		resp, err := http.Get(issuer + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		var md map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		parEndpoint, _ := md["pushed_authorization_request_endpoint"].(string)
		if parEndpoint != issuer+"/oauth/par" || md["require_pushed_authorization_requests"] != false {
			t.Fatalf("metadata: %v", md)
		}

		conf := oauth2.Config{ClientID: "strict", ClientSecret: parSecret, RedirectURL: callback, Scopes: []string{"orders:read"},
			Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth/authorize", TokenURL: issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
		verifierValue := oauth2.GenerateVerifier()
		b := newFormBrowser(t, issuer)

		// Not pushed: refused, to the client's redirect URI.
		back := b.authorize(conf.AuthCodeURL("st-plain", oauth2.S256ChallengeOption(verifierValue)))
		if back.Query().Get("error") != "invalid_request" || back.Query().Get("state") != "st-plain" || back.Query().Get("code") != "" {
			t.Fatalf("without PAR: %s", back)
		}

		// The same parameters, pushed.
		plain, _ := url.Parse(conf.AuthCodeURL("st-par", oauth2.S256ChallengeOption(verifierValue)))
		req, _ := http.NewRequest(http.MethodPost, parEndpoint, strings.NewReader(plain.Query().Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("strict", parSecret)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var pushed struct {
			RequestURI string `json:"request_uri"`
			ExpiresIn  int    `json:"expires_in"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&pushed)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(pushed.RequestURI, "urn:ietf:params:oauth:request_uri:") || pushed.ExpiresIn != 60 {
			t.Fatalf("push: %d %+v", resp.StatusCode, pushed)
		}
		authURL := issuer + "/oauth/authorize?" + url.Values{"client_id": {"strict"}, "request_uri": {pushed.RequestURI}}.Encode()
		back = b.authorize(authURL)
		if back.Query().Get("state") != "st-par" || back.Query().Get("iss") != issuer || back.Query().Get("code") == "" {
			t.Fatalf("with PAR: %s", back)
		}
		tok, err := conf.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifierValue))
		if err != nil || tok.AccessToken == "" {
			t.Fatalf("exchange: %v", err)
		}

		// Spent: an error page, no redirect.
		status, loc, _ := b.fetch(http.MethodGet, authURL, nil)
		if status != http.StatusBadRequest || loc != "" {
			t.Fatalf("request_uri again: %d %q", status, loc)
		}
	})
}
