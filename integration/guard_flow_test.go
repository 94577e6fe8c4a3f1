package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	oauthcmd "github.com/caddyoauth/caddy-oauth/cmd"
)

const (
	svcSecret = "svc-secret-0123456789abcdef"
	appSecret = "app-secret-0123456789abcdef"
	userEmail = "grace@example.com"
	userPass  = "correct horse battery"
)

// site is one running Caddy with an authorization server and guarded APIs.
type site struct {
	issuer   string
	tokenURL string
	api      string // needs orders:read, no leeway
	writeAPI string // needs orders:write
	userAPI  string // needs a user token, no leeway
	shortURL string // a token endpoint issuing 1s tokens with the same issuer and keys
	evilURL  string // a token endpoint with another issuer, same keys
	up       *upstream
	userID   string
}

// runCLI runs `caddy oauth ...` in-process and returns its output.
func runCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	c := oauthcmd.NewCommand()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetIn(strings.NewReader(stdin))
	c.SetArgs(args)
	if err := c.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("caddy oauth %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func startSite(t *testing.T, sc storeCase) *site {
	t.Helper()
	t.Setenv("IT_SVC_SECRET", svcSecret)
	spec := sc.driver + ":" + sc.dsn
	userID := addUser(t, spec)

	auth, api, write, user, short, evil := freePort(t), freePort(t), freePort(t), freePort(t), freePort(t), freePort(t)
	up := newUpstream(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", auth)
	server := func(port int, iss, extra string) string {
		return fmt.Sprintf(`
http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		%s
		%s
		scope orders:read Read your orders
		scope orders:write Change your orders
		default_scope orders:read
		client svc {
			secret {env.IT_SVC_SECRET}
			grants client_credentials
		}
		client app {
			name "Orders app"
			secret %s
			grants password refresh_token
		}
	}
}`, port, iss, sc.directive(), extra, appSecret)
	}
	guard := func(port int, rules string) string {
		return fmt.Sprintf(`
http://127.0.0.1:%d {
	oauth_guard {
		jwks %s/.well-known/jwks.json
		issuer %s
		%s
	}
	reverse_proxy %s
}`, port, issuer, issuer, rules, strings.TrimPrefix(up.URL, "http://"))
	}
	cf := "{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n" +
		server(auth, issuer, "") +
		server(short, issuer, "access_token_ttl 1s") +
		server(evil, "http://evil.example", "") +
		guard(api, "scopes all orders:read\n\t\tleeway 0s") +
		guard(write, "scopes all orders:write") +
		guard(user, "subject user\n\t\tleeway 0s")
	startCaddy(t, cf)
	return &site{
		issuer:   issuer,
		tokenURL: issuer + "/oauth/token",
		api:      fmt.Sprintf("http://127.0.0.1:%d/orders", api),
		writeAPI: fmt.Sprintf("http://127.0.0.1:%d/orders", write),
		userAPI:  fmt.Sprintf("http://127.0.0.1:%d/me", user),
		shortURL: fmt.Sprintf("http://127.0.0.1:%d/oauth/token", short),
		evilURL:  fmt.Sprintf("http://127.0.0.1:%d/oauth/token", evil),
		up:       up,
		userID:   userID,
	}
}

func (s *site) clientToken(t *testing.T, tokenURL string, scopes ...string) string {
	t.Helper()
	cfg := clientcredentials.Config{ClientID: "svc", ClientSecret: svcSecret, TokenURL: tokenURL, Scopes: scopes, AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatalf("client credentials at %s: %v", tokenURL, err)
	}
	return tok.AccessToken
}

func (s *site) userToken(t *testing.T, scopes ...string) *oauth2.Token {
	t.Helper()
	cfg := oauth2.Config{ClientID: "app", ClientSecret: appSecret, Endpoint: oauth2.Endpoint{TokenURL: s.tokenURL, AuthStyle: oauth2.AuthStyleInParams}, Scopes: scopes}
	tok, err := cfg.PasswordCredentialsToken(context.Background(), userEmail, userPass)
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	return tok
}

func TestClientTokenReachesUpstreamWithIdentityHeaders(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		s := startSite(t, sc)
		tok := s.clientToken(t, s.tokenURL, "orders:read", "orders:write")
		r := call(t, "GET", s.api, tok, map[string]string{
			"X-OAuth-User-Id": "admin", "X-OAuth-Scopes": "*", "X-OAuth-Client-Id": "spoof", "X-OAuth-Token-Id": "spoof",
		})
		if r.status != 200 {
			t.Fatalf("guard refused a good token: %d %v %v", r.status, r.header, r.body)
		}
		h, _ := s.up.seen()
		if got := h.Values("X-Oauth-User-Id"); len(got) != 0 {
			t.Errorf("spoofed user id reached the upstream: %v", got)
		}
		if h.Get("X-Oauth-Client-Id") != "svc" || h.Get("X-Oauth-Scopes") != "orders:read orders:write" || h.Get("X-Oauth-Token-Id") == "spoof" || h.Get("X-Oauth-Token-Id") == "" {
			t.Errorf("identity headers: %v", h)
		}
		if len(h.Values("X-Oauth-Scopes")) != 1 {
			t.Errorf("scopes header doubled: %v", h.Values("X-Oauth-Scopes"))
		}
	})
}

func TestUserTokenCarriesUserIDAndRefreshes(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		s := startSite(t, sc)
		tok := s.userToken(t)
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token from the password grant")
		}
		for _, u := range []string{s.api, s.userAPI} {
			r := call(t, "GET", u, tok.AccessToken, nil)
			if r.status != 200 {
				t.Fatalf("%s: %d %v", u, r.status, r.body)
			}
			h, _ := s.up.seen()
			if h.Get("X-Oauth-User-Id") != s.userID || h.Get("X-Oauth-Client-Id") != "app" {
				t.Errorf("%s: identity headers %v (user %s)", u, h, s.userID)
			}
		}
		// x/oauth2 refreshes with the rotated refresh token.
		cfg := oauth2.Config{ClientID: "app", ClientSecret: appSecret, Endpoint: oauth2.Endpoint{TokenURL: s.tokenURL, AuthStyle: oauth2.AuthStyleInParams}}
		expired := &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
		fresh, err := cfg.TokenSource(context.Background(), expired).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
			t.Fatal("refresh did not rotate")
		}
		if r := call(t, "GET", s.api, fresh.AccessToken, nil); r.status != 200 {
			t.Fatalf("refreshed token refused: %d", r.status)
		}
	})
}

func TestGuardRefusalsFollowRFC6750(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		s := startSite(t, sc)
		readTok := s.clientToken(t, s.tokenURL, "orders:read")
		_, hitsBefore := s.up.seen()

		// Missing scope: 403 naming the required scope.
		r := call(t, "GET", s.writeAPI, readTok, nil)
		if r.status != 403 || r.body["error"] != "insufficient_scope" {
			t.Fatalf("missing scope: %d %v", r.status, r.body)
		}
		if wa := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer ") || !strings.Contains(wa, `error="insufficient_scope"`) || !strings.Contains(wa, `scope="orders:write"`) {
			t.Errorf("WWW-Authenticate %q", wa)
		}

		// No token: 401 with a bare challenge.
		r = call(t, "GET", s.api, "", nil)
		if wa := r.header.Get("WWW-Authenticate"); r.status != 401 || !strings.HasPrefix(wa, "Bearer realm=") || strings.Contains(wa, "error=") {
			t.Fatalf("no token: %d %q", r.status, wa)
		}

		// Malformed header and two credentials: 400 invalid_request.
		for _, hdr := range []string{"Bearer", "Bearer a b", "Bearer " + readTok + ", Bearer " + readTok} {
			r = call(t, "GET", s.api, "", map[string]string{"Authorization": hdr})
			if r.status != 400 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_request"`) {
				t.Errorf("Authorization %.20q...: %d %q", hdr, r.status, r.header.Get("WWW-Authenticate"))
			}
		}

		// A client token on a user-only API.
		if r = call(t, "GET", s.userAPI, readTok, nil); r.status != 401 {
			t.Errorf("client token on user API: %d", r.status)
		}

		invalid := map[string]string{
			"tampered payload":   tamperPayload(t, readTok),
			"tampered signature": readTok[:len(readTok)-4] + flip(readTok[len(readTok)-4:]),
			"alg none":           algNone(t, readTok),
			"wrong issuer":       s.clientToken(t, s.evilURL, "orders:read"),
			"garbage":            "not.a.jwt",
		}
		short := s.clientToken(t, s.shortURL, "orders:read")
		time.Sleep(2100 * time.Millisecond)
		invalid["expired"] = short
		for name, tok := range invalid {
			for _, u := range []string{s.api, s.userAPI} {
				r = call(t, "GET", u, tok, nil)
				if r.status != 401 || r.body["error"] != "invalid_token" || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("%s at %s: %d %v %q", name, u, r.status, r.body, r.header.Get("WWW-Authenticate"))
				}
				if strings.Contains(fmt.Sprint(r.body), tok) {
					t.Errorf("%s: the refusal echoes the token", name)
				}
			}
		}
		if _, hits := s.up.seen(); hits != hitsBefore {
			t.Fatalf("the upstream saw %d refused requests", hits-hitsBefore)
		}
	})
}

func TestBadTokenRequestsLeaveStoreUnchanged(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		s := startSite(t, sc)
		_ = s.clientToken(t, s.tokenURL) // warm: keys and clients exist
		before := sc.fingerprint(t)
		bad := []url.Values{
			{"grant_type": {"client_credentials"}, "scope": {"orders:delete"}},
			{"grant_type": {"password"}, "username": {userEmail}, "password": {"wrong"}},
			{"grant_type": {"refresh_token"}, "refresh_token": {"forged"}},
			{"grant_type": {"authorization_code"}, "code": {"x"}},
			{"grant_type": {"client_credentials", "client_credentials"}},
		}
		for _, form := range bad {
			for _, cred := range [][2]string{{"svc", svcSecret}, {"svc", "wrong-secret-0123456789"}, {"app", appSecret}} {
				req, _ := http.NewRequest("POST", s.tokenURL, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(cred[0], cred[1])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var body map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode < 400 || body["error"] == nil {
					t.Errorf("%v as %s: %d %v", form, cred[0], resp.StatusCode, body)
				}
			}
		}
		if after := sc.fingerprint(t); after != before {
			t.Fatalf("refused requests changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

func tamperPayload(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.Replace(raw, []byte(`"orders:read"`), []byte(`"orders:read orders:write"`), 1)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func algNone(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hdr map[string]any
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	hdr["alg"] = "none"
	h, _ := json.Marshal(hdr)
	return base64.RawURLEncoding.EncodeToString(h) + "." + parts[1] + "."
}

func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}
