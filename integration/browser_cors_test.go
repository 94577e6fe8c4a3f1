package integration

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// spaScript is a single-page app's own code, run by Chromium in the page of the app's
// redirect URI: it takes the code from its URL, makes a P-256 key with WebCrypto, and
// exchanges the code at the token endpoint with a DPoP proof (RFC 9449), retrying once
// with the nonce the server asks for; then it refreshes with a new proof and revokes the
// refresh token. It returns what it could read of each answer. %s: the parameters.
const spaScript = `(async (p) => {
	const b64u = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
		.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
	const text = new TextEncoder();
	const keys = await crypto.subtle.generateKey({name: 'ECDSA', namedCurve: 'P-256'}, false, ['sign']);
	const full = await crypto.subtle.exportKey('jwk', keys.publicKey);
	const jwk = {crv: full.crv, kty: full.kty, x: full.x, y: full.y};
	const proof = async (nonce) => {
		const claims = {jti: crypto.randomUUID(), htm: 'POST', htu: p.tokenURL, iat: Math.floor(Date.now() / 1000)};
		if (nonce) claims.nonce = nonce;
		const input = b64u(text.encode(JSON.stringify({typ: 'dpop+jwt', alg: 'ES256', jwk}))) + '.' +
			b64u(text.encode(JSON.stringify(claims)));
		const sig = await crypto.subtle.sign({name: 'ECDSA', hash: 'SHA-256'}, keys.privateKey, text.encode(input));
		return input + '.' + b64u(sig);
	};
	let nonce = '';
	const steps = [];
	const post = async (url, form, withProof) => {
		const headers = {'Content-Type': 'application/x-www-form-urlencoded'};
		if (withProof) headers.DPoP = await proof(nonce);
		const r = await fetch(url, {method: 'POST', headers, body: new URLSearchParams(form)});
		nonce = r.headers.get('DPoP-Nonce') || nonce;
		const body = await r.text();
		steps.push({status: r.status, nonce_readable: r.headers.has('DPoP-Nonce'), body: body ? JSON.parse(body) : null});
		return steps[steps.length - 1];
	};
	const code = new URLSearchParams(location.search).get('code');
	const exchange = {grant_type: 'authorization_code', code, redirect_uri: p.redirectURI, code_verifier: p.verifier, client_id: p.clientID};
	let tok = await post(p.tokenURL, exchange, true);
	if (tok.status === 400 && tok.body.error === 'use_dpop_nonce') tok = await post(p.tokenURL, exchange, true);
	const refreshed = await post(p.tokenURL, {grant_type: 'refresh_token', refresh_token: tok.body.refresh_token, client_id: p.clientID}, true);
	await post(p.revokeURL, {token: refreshed.body.refresh_token, client_id: p.clientID}, false);
	return {steps, jwk};
})(%s)`

// otherOriginScript is the same exchange tried by a page of another origin: the request
// goes out (the preflight allows any origin), but the answer must not be readable.
const otherOriginScript = `(async (p) => {
	try {
		const r = await fetch(p.tokenURL, {method: 'POST',
			headers: {'Content-Type': 'application/x-www-form-urlencoded', 'DPoP': 'x.y.z'},
			body: new URLSearchParams({grant_type: 'authorization_code', code: 'made-up', redirect_uri: p.redirectURI, code_verifier: p.verifier, client_id: p.clientID})});
		return 'read: ' + r.status + ' ' + await r.text();
	} catch (e) {
		return 'blocked: ' + e.name;
	}
})(%s)`

type spaStep struct {
	Status        int            `json:"status"`
	NonceReadable bool           `json:"nonce_readable"`
	Body          map[string]any `json:"body"`
}

// A single-page app does everything a browser client does at the token endpoint from its
// own origin, in Chromium, with DPoP and server nonces: CORS lets it read the
// use_dpop_nonce error and its DPoP-Nonce header, the DPoP tokens, the refresh and the
// revocation; a page of another origin sending the same request cannot read the answer.
func TestBrowserAppUsesTheTokenEndpointWithDPoPFromItsOrigin(t *testing.T) {
	s := startNodeSite(t, "dpop_nonce")
	ctx := newChromium(t)
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	verifier := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(verifier))
	params, _ := json.Marshal(map[string]string{
		"tokenURL":    s.issuer + "/oauth/token",
		"revokeURL":   s.issuer + "/oauth/revoke",
		"redirectURI": s.app.URL + "/callback",
		"verifier":    verifier,
		"clientID":    "spa",
	})
	chromiumSignsIn(t, ctx, s.issuer+"/oauth/authorize?"+url.Values{
		"response_type": {"code"}, "client_id": {"spa"}, "redirect_uri": {s.app.URL + "/callback"},
		"scope": {"orders:read"}, "state": {"st-1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode(), "spa-cors")
	if got := s.app.wait(t, "redirect URI"); !strings.Contains(got, "code=") {
		t.Fatalf("the browser came back without a code: %s", redactQuery(got))
	}
	browserSteps(t, ctx, "spa-cors", "the app's page", chromedp.WaitVisible(chromedp.CSS(`#done`)))

	res, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Steps []spaStep         `json:"steps"`
		JWK   map[string]string `json:"jwk"`
	}](fmt.Sprintf(spaScript, params), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("the app's script: %v", err)
	}
	steps := res.Steps
	if len(steps) != 4 {
		t.Fatalf("steps %+v", steps)
	}
	if steps[0].Status != http.StatusBadRequest || steps[0].Body["error"] != "use_dpop_nonce" || !steps[0].NonceReadable {
		t.Errorf("first exchange: the app could not read the nonce challenge: %+v", steps[0])
	}
	jkt := thumbprint(t, res.JWK)
	for i, what := range []string{"exchange with the nonce", "refresh"} {
		st := steps[i+1]
		if st.Status != http.StatusOK || st.Body["token_type"] != "DPoP" {
			t.Fatalf("%s: %+v", what, st)
		}
		_, claims := jwtClaims(t, st.Body["access_token"].(string))
		if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != jkt {
			t.Errorf("%s: access token bound to %v, want the page's key %s", what, claims["cnf"], jkt)
		}
	}
	if steps[3].Status != http.StatusOK {
		t.Errorf("revocation: %+v", steps[3])
	}

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><title>Elsewhere</title><p id="done">Another site.</p>`)
	}))
	t.Cleanup(other.Close)
	// Another origin: by name, since every port of the app's loopback address is the app's
	// (a loopback IP redirect URI admits any port, RFC 8252 §7.3).
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	browserSteps(t, ctx, "spa-cors-other", "another origin's page",
		chromedp.Navigate(otherURL), chromedp.WaitVisible(chromedp.CSS(`#done`)))
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(otherOriginScript, params), chromedp.EvalAwaitPromise))
	if err != nil || got != "blocked: TypeError" {
		t.Fatalf("a page of another origin: %q %v", got, err)
	}
}

// thumbprint is the RFC 7638 thumbprint of a public JWK, as a token's cnf.jkt names it.
func thumbprint(t *testing.T, public map[string]string) string {
	t.Helper()
	raw, _ := json.Marshal(public)
	key, err := jwk.ParseKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}
