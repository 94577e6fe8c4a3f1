package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

// cookieGuardSite is a guard with `cookie api_token` (and one without) in front of an
// upstream, trusting a key the test signs with.
type cookieGuardSite struct {
	url, plainURL string
	up            *upstream
	sign          func(claims map[string]any) string
}

const cookieIssuer = "https://auth.cookie.test"

func startCookieGuard(t *testing.T) *cookieGuardSite {
	t.Helper()
	rec, err := keys.Generate(keys.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring := &keys.Ring{}
	if err := ring.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwks, ring.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t)
	withCookie, plain := freePort(t), freePort(t)
	guard := func(port int, extra string) string {
		return fmt.Sprintf(`
http://127.0.0.1:%d {
	oauth_guard {
		jwks %s
		issuer %s
		%s
	}
	reverse_proxy %s
}`, port, jwks, cookieIssuer, extra, strings.TrimPrefix(up.URL, "http://"))
	}
	startCaddy(t, "{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n"+guard(withCookie, "cookie api_token")+guard(plain, ""))
	return &cookieGuardSite{
		url:      fmt.Sprintf("http://127.0.0.1:%d/me", withCookie),
		plainURL: fmt.Sprintf("http://127.0.0.1:%d/me", plain),
		up:       up,
		sign: func(extra map[string]any) string {
			now := time.Now().Unix()
			claims := map[string]any{"iss": cookieIssuer, "sub": "user-7", "aud": []string{"pac"}, "client_id": "pac",
				"scope": "*", "jti": fmt.Sprintf("jti-%d", time.Now().UnixNano()), "iat": now, "nbf": now, "exp": now + 600}
			for k, v := range extra {
				claims[k] = v
			}
			raw, _ := json.Marshal(claims)
			tok, err := ring.Signer().Sign(raw)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		},
	}
}

// cookieCall sends a GET with the cookie and headers given.
func cookieCall(t *testing.T, url, cookie string, hdr map[string]string) reply {
	t.Helper()
	if cookie != "" {
		if hdr == nil {
			hdr = map[string]string{}
		}
		hdr["Cookie"] = (&http.Cookie{Name: "api_token", Value: cookie}).String()
	}
	return call(t, "GET", url, "", hdr)
}

// The guard's cookie option accepts a first-party cookie token only with its CSRF value
// in a header; anything else is refused before the upstream.
func TestGuardCookieTokenNeedsMatchingCSRFHeader(t *testing.T) {
	s := startCookieGuard(t)
	const csrf = "k7G2xWq9V3sYb8Lz0Nf4Tu6Rh1Jc5Pd"
	tok := s.sign(map[string]any{"csrf": csrf})

	for _, header := range []string{"X-XSRF-TOKEN", "X-CSRF-TOKEN"} {
		r := cookieCall(t, s.url, tok, map[string]string{header: csrf})
		if r.status != 200 {
			t.Fatalf("cookie with %s: %d %v", header, r.status, r.body)
		}
		if h, _ := s.up.seen(); h.Get("X-Oauth-User-Id") != "user-7" {
			t.Fatalf("upstream identity %v", h)
		}
	}

	_, hits := s.up.seen()
	for _, c := range []struct {
		name   string
		url    string
		cookie string
		hdr    map[string]string
	}{
		{"no CSRF header", s.url, tok, nil},
		{"wrong CSRF header", s.url, tok, map[string]string{"X-XSRF-TOKEN": csrf[:len(csrf)-1] + "x"}},
		{"empty CSRF header", s.url, tok, map[string]string{"X-CSRF-TOKEN": ""}},
		{"ordinary token without csrf claim in the cookie", s.url, s.sign(nil), map[string]string{"X-XSRF-TOKEN": ""}},
		{"ordinary token and a guessed header", s.url, s.sign(nil), map[string]string{"X-XSRF-TOKEN": "anything"}},
		{"guard without the cookie option", s.plainURL, tok, map[string]string{"X-XSRF-TOKEN": csrf}},
		{"cookie ignored when an Authorization header is sent", s.url, tok, map[string]string{"X-XSRF-TOKEN": csrf, "Authorization": "Basic dXNlcjpwYXNz"}},
	} {
		r := cookieCall(t, c.url, c.cookie, c.hdr)
		if r.status != 401 {
			t.Errorf("%s: %d %v", c.name, r.status, r.body)
		}
	}
	if _, after := s.up.seen(); after != hits {
		t.Fatalf("%d refused requests reached the upstream", after-hits)
	}
	// A Bearer token still works, and wins over the cookie.
	if r := call(t, "GET", s.url, s.sign(nil), map[string]string{"Cookie": "api_token=garbage"}); r.status != 200 {
		t.Fatalf("bearer with a stray cookie: %d %v", r.status, r.body)
	}
}

// A guard that could never check a cookie token's CSRF claim does not start.
func TestGuardCookieWithoutJWKSFailsToStart(t *testing.T) {
	port := freePort(t)
	err := tryCaddy(t, fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_guard {
		introspect http://127.0.0.1:1/oauth/introspect {
			client_id rs
			client_secret rs-secret-0123456789
		}
		cookie api_token
	}
	respond ok
}`, port))
	if err == nil || !strings.Contains(err.Error(), "cookie tokens are checked against their csrf claim") {
		t.Fatalf("got %v", err)
	}
}
