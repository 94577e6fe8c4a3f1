package integration

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/certtest"
	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

const dpopIssuer = "https://auth.dpop.test"

// A real Caddy from a Caddyfile: a DPoP-bound token through a guard with dpop_nonce
// inside handle_path (the proof names the URL the client sent, before the prefix is
// stripped), a replayed proof, and a certificate-bound token on an HTTPS site that asks
// for client certificates (tls internal, client_auth mode request).
func TestGuardSenderConstrainedTokensInCaddy(t *testing.T) {
	rec, err := keys.Generate(keys.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring := &keys.Ring{}
	if err := ring.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, ring.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	sign := func(cnf map[string]any) string {
		now := time.Now().Unix()
		raw, _ := json.Marshal(map[string]any{"iss": dpopIssuer, "sub": "user-7", "aud": []string{"app"}, "client_id": "app",
			"scope": "orders:read", "jti": fmt.Sprintf("jti-%d", time.Now().UnixNano()), "iat": now, "exp": now + 600, "cnf": cnf})
		tok, err := ring.Signer().Sign(raw)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	up := newUpstream(t)
	nonceSite, plainSite, tlsSite := freePort(t), freePort(t), freePort(t)
	guard := func(extra string) string {
		return fmt.Sprintf("oauth_guard {\n\t\tjwks %s\n\t\tissuer %s\n\t\t%s\n\t}\n\treverse_proxy %s\n", jwksFile, dpopIssuer, extra, strings.TrimPrefix(up.URL, "http://"))
	}
	startCaddy(t, fmt.Sprintf(`{
	admin off
	persist_config off
	skip_install_trust
	auto_https disable_redirects
	storage file_system %s
}
http://127.0.0.1:%d {
	handle_path /api/* {
		%s
	}
}
http://127.0.0.1:%d {
	%s
}
https://localhost:%d {
	tls internal {
		client_auth {
			mode request
		}
	}
	%s
}
`, t.TempDir(), nonceSite, guard("dpop_nonce"), plainSite, guard(""), tlsSite, guard("")))

	c := dpoptest.NewKey(t)
	tok := sign(map[string]any{"jkt": c.JKT})

	// dpop_nonce: the first proof is answered with use_dpop_nonce and a nonce.
	url := fmt.Sprintf("http://127.0.0.1:%d/api/orders", nonceSite)
	r := dpopCall(t, http.DefaultClient, url, tok, c.Proof(t, "GET", url, tok, time.Now(), nil))
	nonce := r.header.Get("DPoP-Nonce")
	if r.status != 401 || nonce == "" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `DPoP realm="api", error="use_dpop_nonce"`) {
		t.Fatalf("no nonce: %d %v", r.status, r.header)
	}
	r = dpopCall(t, http.DefaultClient, url, tok, c.Proof(t, "GET", url, tok, time.Now(), map[string]any{"nonce": nonce}))
	if r.status != 200 || r.header.Get("DPoP-Nonce") == "" {
		t.Fatalf("with the nonce: %d %v %v", r.status, r.header, r.body)
	}
	if seen, _ := up.seen(); seen.Get("X-Oauth-User-Id") != "user-7" {
		t.Fatalf("upstream saw %v", seen)
	}
	// The rewritten URL is not the one the client sent.
	r = dpopCall(t, http.DefaultClient, url, tok, c.Proof(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/orders", nonceSite), tok, time.Now(), map[string]any{"nonce": nonce}))
	if r.status != 401 || r.body["error"] != "invalid_dpop_proof" {
		t.Fatalf("proof for the stripped path: %d %v", r.status, r.body)
	}

	// A proof is accepted once; the token is not a bearer token.
	url = fmt.Sprintf("http://127.0.0.1:%d/orders", plainSite)
	p := c.Proof(t, "GET", url, tok, time.Now(), nil)
	if r := dpopCall(t, http.DefaultClient, url, tok, p); r.status != 200 {
		t.Fatalf("good proof: %d %v", r.status, r.body)
	}
	if r := dpopCall(t, http.DefaultClient, url, tok, p); r.status != 401 || r.body["error"] != "invalid_dpop_proof" {
		t.Fatalf("replayed proof: %d %v", r.status, r.body)
	}
	if r := call(t, "GET", url, tok, nil); r.status != 401 || r.body["error"] != "invalid_token" {
		t.Fatalf("DPoP-bound token as Bearer: %d %v", r.status, r.body)
	}

	// Certificate-bound: over TLS with the right client certificate only.
	right, x5t := certtest.ClientCert(t, "right")
	wrong, _ := certtest.ClientCert(t, "wrong")
	certTok := sign(map[string]any{"x5t#S256": x5t})
	// localhost, not an IP: a client sends SNI only for a name, and with client_auth Caddy
	// requires the SNI to match the Host (421 otherwise).
	url = fmt.Sprintf("https://localhost:%d/orders", tlsSite)
	// Caddy issues the site's certificate from its internal CA in the background.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		conn, err := tls.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/orders"), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the HTTPS site never answered a handshake: %v", err)
		}
	}
	for name, cert := range map[string]*tls.Certificate{"right": &right, "another": &wrong, "none": nil} {
		cfg := &tls.Config{InsecureSkipVerify: true} // Caddy's internal CA, not installed
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+certTok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s certificate: %v", name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		want := 401
		if name == "right" {
			want = 200
		}
		if resp.StatusCode != want {
			t.Fatalf("%s certificate: %d, want %d (%s)", name, resp.StatusCode, want, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

// dpopCall sends a GET with `Authorization: DPoP <token>` and the proof.
func dpopCall(t *testing.T, client *http.Client, url, token, proof string) reply {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "DPoP "+token)
	req.Header.Set("DPoP", proof)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}
