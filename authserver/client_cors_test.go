package authserver_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
)

// spaOrigin is the origin of the spa client's redirect URI (spaCB).
const spaOrigin = "http://127.0.0.1:9999"

// wantReadableBy checks the CORS answer: readable by origin ("" for by no other origin),
// never with credentials, and varying by Origin.
func wantReadableBy(t *testing.T, what string, r tokenReply, origin string) {
	t.Helper()
	h := r.Header
	if got := h.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("%s: Access-Control-Allow-Origin %q, want %q (status %d %v)", what, got, origin, r.Status, r.Body)
	}
	if h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("%s: credentials allowed", what)
	}
	if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Errorf("%s: answer does not vary by Origin: %v", what, h)
	}
	expose := h.Get("Access-Control-Expose-Headers")
	if origin != "" && (!strings.Contains(expose, "DPoP-Nonce") || !strings.Contains(expose, "WWW-Authenticate") || !strings.Contains(expose, "Retry-After")) {
		t.Errorf("%s: exposed headers %q", what, expose)
	}
}

// A browser app (public client) reads the token and revocation endpoints' answers from
// the origin of its redirect URI, success or error; no other origin, and no confidential
// client's origin, can read them; an unknown client's errors are not readable either.
func TestTokenEndpointCORSFollowsTheClientsRedirectOrigins(t *testing.T) {
	f := sqliteFixture(t)
	s := browserSite(t, f, nil)
	code := s.browser(t).codeFor(spaQuery())

	ok := postFrom(t, s.url, authserver.PathToken, spaOrigin, codeForm(code), "spa", "")
	if ok.Status != http.StatusOK {
		t.Fatalf("exchange: %d %v", ok.Status, ok.Body)
	}
	wantReadableBy(t, "code exchange from the spa's origin", ok, spaOrigin)
	rt := ok.Body["refresh_token"].(string)

	// CORS decides who reads an answer, not what the server does: a refresh sent from
	// another origin is carried out (a page there could send it with a plain form post)
	// and its answer is not readable there.
	other := postFrom(t, s.url, authserver.PathToken, "https://evil.example", refreshForm(rt), "spa", "")
	if other.Status != http.StatusOK {
		t.Fatalf("refresh: %d %v", other.Status, other.Body)
	}
	wantReadableBy(t, "refresh from another origin", other, "")
	rt = other.Body["refresh_token"].(string)

	for _, tc := range []struct {
		name, origin, clientID, secret string
		want                           string
	}{
		{"error for the spa from its origin", spaOrigin, "spa", "", spaOrigin},
		{"no Origin header", "", "spa", "", ""},
		// A loopback IP redirect URI admits any port, as at /oauth/authorize (RFC 8252 §7.3).
		{"the spa's loopback address on another port", "http://127.0.0.1:9998", "spa", "", "http://127.0.0.1:9998"},
		{"another loopback address", "http://127.0.0.2:9999", "spa", "", ""},
		{"an https redirect origin (error of another public client)", "https://game.example", "imp", "", "https://game.example"},
		{"an https redirect host on another port", "https://game.example:8443", "imp", "", ""},
		{"an https redirect host over http", "http://game.example", "imp", "", ""},
		{"localhost for the spa's loopback address", "http://localhost:9999", "spa", "", ""},
		{"the spa's host over https", "https://127.0.0.1:9999", "spa", "", ""},
		{"the spa's origin with a path", spaOrigin + "/callback", "spa", "", ""},
		{"the origin null", "null", "spa", "", ""},
		{"a confidential client from its redirect origin", "https://client.example", "web", webSecret, ""},
		{"an unknown client", spaOrigin, "nobody", "", ""},
	} {
		r := postFrom(t, s.url, authserver.PathToken, tc.origin, codeForm("not-a-code"), tc.clientID, tc.secret)
		if r.Status == http.StatusOK {
			t.Fatalf("%s: a made-up code was exchanged", tc.name)
		}
		wantReadableBy(t, tc.name, r, tc.want)
	}

	rev := postFrom(t, s.url, authserver.PathRevoke, spaOrigin, url.Values{"token": {rt}}, "spa", "")
	if rev.Status != http.StatusOK {
		t.Fatalf("revocation: %d %v", rev.Status, rev.Body)
	}
	wantReadableBy(t, "revocation from the spa's origin", rev, spaOrigin)
	wantReadableBy(t, "revocation from another origin",
		postFrom(t, s.url, authserver.PathRevoke, "https://evil.example", url.Values{"token": {rt}}, "spa", ""), "")
	if r := postFrom(t, s.url, authserver.PathToken, spaOrigin, refreshForm(rt), "spa", ""); r.Status != http.StatusBadRequest {
		t.Fatalf("refresh token still good after its revocation from the browser: %d", r.Status)
	}
}

// The preflight a browser sends before a request with a DPoP or Authorization header is
// answered at the token and revocation endpoints, allowing POST and those headers and
// never credentials; the other client endpoints still answer OPTIONS with 405.
func TestTokenEndpointAnswersTheCORSPreflight(t *testing.T) {
	f := sqliteFixture(t)
	for _, path := range []string{authserver.PathToken, authserver.PathRevoke, authserver.PathIntrospect, authserver.PathPAR} {
		req, _ := http.NewRequest(http.MethodOptions, f.ts.URL+path, nil)
		req.Header.Set("Origin", spaOrigin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,dpop")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if path == authserver.PathIntrospect || path == authserver.PathPAR {
			if resp.StatusCode != http.StatusMethodNotAllowed || h.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("preflight at %s: %d %v", path, resp.StatusCode, h)
			}
			continue
		}
		allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") == "" ||
			h.Get("Access-Control-Allow-Methods") != "POST" || h.Get("Access-Control-Allow-Credentials") != "" ||
			!strings.Contains(allowed, "dpop") || !strings.Contains(allowed, "content-type") || !strings.Contains(allowed, "authorization") {
			t.Errorf("preflight at %s: %d %v", path, resp.StatusCode, h)
		}
	}
}

// A browser app using DPoP with server nonces can read the use_dpop_nonce error and its
// DPoP-Nonce header (RFC 9449 §8), retry with the nonce, and read the tokens.
func TestTokenEndpointCORSExposesTheDPoPNonce(t *testing.T) {
	f := sqliteFixture(t)
	s := browserSite(t, f, func(c *authserver.Config) { c.RequireDPoPNonce = true })
	code := s.browser(t).codeFor(spaQuery())
	key := dpoptest.NewKey(t)
	htu := s.url + authserver.PathToken
	first := postFrom(t, s.url, authserver.PathToken, spaOrigin, codeForm(code), "spa", "", postProof(t, key, htu, ""))
	nonce := first.Header.Get(authserver.HeaderDPoPNonce)
	if first.Status != http.StatusBadRequest || first.Body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("first request: %d %v %v", first.Status, first.Header, first.Body)
	}
	wantReadableBy(t, "use_dpop_nonce", first, spaOrigin)
	retry := postFrom(t, s.url, authserver.PathToken, spaOrigin, codeForm(code), "spa", "", postProof(t, key, htu, nonce))
	if retry.Status != http.StatusOK || retry.Body["token_type"] != "DPoP" {
		t.Fatalf("retry with the nonce: %d %v", retry.Status, retry.Body)
	}
	wantReadableBy(t, "DPoP tokens", retry, spaOrigin)
}
