package validator

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/dpop"
	"github.com/caddyoauth/caddy-oauth/internal/dpoptest"
	"github.com/caddyoauth/caddy-oauth/scopes"
)

// A DPoP-bound token (cnf.jkt, RFC 9449 §6) passes with the DPoP scheme and a good proof
// of its key, every time with a new proof: first verified, then cached (the cached
// identity keeps the binding, so it is checked on every hit too).
func TestGuardDPoPBoundTokenPassesWithItsProof(t *testing.T) {
	f := newGuardFixture(t)
	g := f.dpopGuard(t, nil)
	c := dpoptest.NewKey(t)
	tok := f.sign(t, map[string]any{"cnf": map[string]any{"jkt": c.JKT}})
	for round := range 4 {
		id, err := g.Check(dpopRequest(apiURL, tok, c.Proof(t, "GET", apiURL, tok, testNow, nil)))
		if err != nil {
			t.Fatalf("request %d: %v", round+1, err)
		}
		if id.DPoPKey() != c.JKT {
			t.Fatalf("request %d: identity bound to %q", round+1, id.DPoPKey())
		}
		// And, cached or not, never as a bearer token.
		_, err = g.Check(bearerRequest("Bearer " + tok))
		if r := wantRefusal(t, err, InvalidToken, "the token is DPoP-bound: send it with the DPoP scheme and a DPoP proof"); !r.DPoP {
			t.Fatal("refusal of a DPoP-bound Bearer token has no DPoP challenge")
		}
	}
	if f.cache.Hits() == 0 {
		t.Fatal("the DPoP-bound token was never served from the cache")
	}
	// The scheme is case-insensitive (RFC 9449 §7.1, RFC 9110 §11.1); the query is not
	// part of htu.
	r := dpopRequest(apiURL+"?page=2", tok, c.Proof(t, "GET", apiURL, tok, testNow, nil))
	r.Header.Set("Authorization", "dpop "+tok)
	if _, err := g.Check(r); err != nil {
		t.Fatalf("lower-case scheme, query string: %v", err)
	}
}

// Each way of presenting a DPoP-bound token without the right proof is refused, with the
// code RFC 9449 §7.1 names and a DPoP challenge.
func TestGuardDPoPRefusesProofsThatDoNotFit(t *testing.T) {
	f := newGuardFixture(t)
	g := f.dpopGuard(t, nil)
	c, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	tok := f.sign(t, map[string]any{"cnf": map[string]any{"jkt": c.JKT}})
	otherTok := f.sign(t, map[string]any{"jti": "tok-2", "cnf": map[string]any{"jkt": c.JKT}})
	plain := f.sign(t, map[string]any{"jti": "tok-3"})
	good := func(changes map[string]any) string { return c.Proof(t, "GET", apiURL, tok, testNow, changes) }
	replayed := good(nil)
	if _, err := g.Check(dpopRequest(apiURL, tok, replayed)); err != nil {
		t.Fatal(err)
	}
	post := dpopRequest(apiURL, tok, good(nil))
	post.Method = http.MethodPost
	for _, tc := range []struct {
		name string
		req  *http.Request
		kind Kind
	}{
		{"bound token as Bearer, with a good proof", func() *http.Request {
			r := bearerRequest("Bearer " + tok)
			r.Header.Set("DPoP", good(nil))
			return r
		}(), InvalidToken},
		{"unbound token with the DPoP scheme", dpopRequest(apiURL, plain, c.Proof(t, "GET", apiURL, plain, testNow, nil)), InvalidToken},
		{"no DPoP header", dpopRequest(apiURL, tok), InvalidDPoPProof},
		{"two DPoP headers", dpopRequest(apiURL, tok, good(nil), good(nil)), InvalidDPoPProof},
		{"proof signed by another key", dpopRequest(apiURL, tok, other.Proof(t, "GET", apiURL, tok, testNow, nil)), InvalidDPoPProof},
		{"proof for another path", dpopRequest(apiURL, tok, good(map[string]any{"htu": "http://api.test/admin"})), InvalidDPoPProof},
		{"proof for another host", dpopRequest(apiURL, tok, good(map[string]any{"htu": "http://evil.test/orders"})), InvalidDPoPProof},
		{"proof for https, request over http", dpopRequest(apiURL, tok, good(map[string]any{"htu": "https://api.test/orders"})), InvalidDPoPProof},
		{"proof for GET, request POST", post, InvalidDPoPProof},
		{"proof without ath", dpopRequest(apiURL, tok, good(map[string]any{"ath": nil})), InvalidDPoPProof},
		{"proof with another token's ath", dpopRequest(apiURL, tok, good(map[string]any{"ath": dpoptest.ATH(otherTok)})), InvalidDPoPProof},
		{"proof 61 s old", dpopRequest(apiURL, tok, good(map[string]any{"iat": testNow.Add(-61 * time.Second).Unix()})), InvalidDPoPProof},
		{"proof 61 s ahead", dpopRequest(apiURL, tok, good(map[string]any{"iat": testNow.Add(61 * time.Second).Unix()})), InvalidDPoPProof},
		{"proof replayed", dpopRequest(apiURL, tok, replayed), InvalidDPoPProof},
		{"garbage proof", dpopRequest(apiURL, tok, "not.a.proof"), InvalidDPoPProof},
		// Normalized, these paths are the proof's /orders; the route they take may not be.
		{"request path with encoded dot segments", dpopRequest("http://api.test/admin/%2e%2E/orders", tok, good(nil)), InvalidDPoPProof},
		{"request path with dot segments", dpopRequest("http://api.test/admin/../orders", tok, good(nil)), InvalidDPoPProof},
		{"request path with a dot segment", dpopRequest("http://api.test/./orders", tok, good(nil)), InvalidDPoPProof},
	} {
		_, err := g.Check(tc.req)
		r := wantRefusal(t, err, tc.kind, "")
		if !r.dpopChallenge() {
			t.Errorf("%s: refused without a DPoP challenge", tc.name)
		}
		if ch := Challenge(r, "api"); !strings.HasPrefix(ch, `DPoP realm="api", error="`+tc.kind.Code()+`"`) || !strings.Contains(ch, `algs="ES256 `) {
			t.Errorf("%s: challenge %q", tc.name, ch)
		}
	}
	// The proof for another token is the token's own jti-check: the right token passes
	// with a proof of its own.
	if _, err := g.Check(dpopRequest(apiURL, otherTok, c.Proof(t, "GET", apiURL, otherTok, testNow, nil))); err != nil {
		t.Fatal(err)
	}
}

// A proof accepted by one guard is refused by another of the same process sharing its
// replay cache (the host shares one among all its guards).
func TestGuardDPoPProofIsAcceptedOnceAcrossGuards(t *testing.T) {
	f := newGuardFixture(t)
	replay := dpop.NewReplayCache(dpop.DefaultWindow, 0)
	a := f.dpopGuard(t, func(o *DPoPOptions) { o.Replay = replay })
	b := f.dpopGuard(t, func(o *DPoPOptions) { o.Replay = replay })
	c := dpoptest.NewKey(t)
	tok := f.sign(t, map[string]any{"cnf": map[string]any{"jkt": c.JKT}})
	p := c.Proof(t, "GET", apiURL, tok, testNow, nil)
	if _, err := a.Check(dpopRequest(apiURL, tok, p)); err != nil {
		t.Fatal(err)
	}
	_, err := b.Check(dpopRequest(apiURL, tok, p))
	wantRefusal(t, err, InvalidDPoPProof, "the DPoP proof was used before")
}

// One key's holder sending more proofs than its share of the replay cache waits (503,
// Retry-After the proof window); other keys' requests go on. Without the cap, one token
// holder could fill the cache all DPoP clients of the process need.
func TestGuardDPoPOneKeyCannotFillTheReplayCache(t *testing.T) {
	f := newGuardFixture(t)
	g := f.dpopGuard(t, func(o *DPoPOptions) { o.Replay = dpop.NewReplayCache(dpop.DefaultWindow, 32) })
	greedy, other := dpoptest.NewKey(t), dpoptest.NewKey(t)
	tok := f.sign(t, map[string]any{"cnf": map[string]any{"jkt": greedy.JKT}})
	otherTok := f.sign(t, map[string]any{"cnf": map[string]any{"jkt": other.JKT}})
	for range 2 { // 32/16
		if _, err := g.Check(dpopRequest(apiURL, tok, greedy.Proof(t, "GET", apiURL, tok, testNow, nil))); err != nil {
			t.Fatal(err)
		}
	}
	_, err := g.Check(dpopRequest(apiURL, tok, greedy.Proof(t, "GET", apiURL, tok, testNow, nil)))
	r := wantRefusal(t, err, Unavailable, "")
	if r.RetryAfter != dpop.DefaultWindow {
		t.Errorf("Retry-After %v, want the proof window", r.RetryAfter)
	}
	if _, err := g.Check(dpopRequest(apiURL, otherTok, other.Proof(t, "GET", apiURL, otherTok, testNow, nil))); err != nil {
		t.Fatalf("another key: %v", err)
	}
}

// With nonces on, a proof without the guard's nonce is refused with use_dpop_nonce and a
// nonce to use (RFC 9449 §9); the retry with it passes and its answer carries a nonce.
func TestGuardDPoPNonce(t *testing.T) {
	f := newGuardFixture(t)
	nonces, err := dpop.NewNonces(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	g := f.dpopGuard(t, func(o *DPoPOptions) { o.Nonces = nonces })
	c := dpoptest.NewKey(t)
	tok := f.sign(t, map[string]any{"cnf": map[string]any{"jkt": c.JKT}})
	_, err = g.Check(dpopRequest(apiURL, tok, c.Proof(t, "GET", apiURL, tok, testNow, nil)))
	r := wantRefusal(t, err, UseDPoPNonce, "")
	if r.Nonce == "" || !nonces.Valid(r.Nonce, testNow) {
		t.Fatalf("use_dpop_nonce without a valid nonce: %q", r.Nonce)
	}
	w := httptest.NewRecorder()
	WriteRefusal(w, r, "api")
	if w.Code != 401 || w.Header().Get("DPoP-Nonce") != r.Nonce ||
		!strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `DPoP realm="api", error="use_dpop_nonce"`) ||
		!strings.Contains(w.Body.String(), `"error":"use_dpop_nonce"`) {
		t.Fatalf("use_dpop_nonce answer: %d %v %s", w.Code, w.Header(), w.Body)
	}
	stale := nonces.Issue(testNow.Add(-dpop.DefaultNonceLife - time.Second))
	_, err = g.Check(dpopRequest(apiURL, tok, c.Proof(t, "GET", apiURL, tok, testNow, map[string]any{"nonce": stale})))
	wantRefusal(t, err, UseDPoPNonce, "")
	if _, err := g.Check(dpopRequest(apiURL, tok, c.Proof(t, "GET", apiURL, tok, testNow, map[string]any{"nonce": r.Nonce}))); err != nil {
		t.Fatalf("retry with the nonce: %v", err)
	}
	if n := g.DPoPNonce(); !nonces.Valid(n, testNow) {
		t.Fatalf("DPoPNonce %q is not valid", n)
	}
	if f.guard(t, nil).DPoPNonce() != "" {
		t.Fatal("a guard without nonces hands out one")
	}
}

// A request without a token is told of both schemes; every other refusal of a request
// with the DPoP scheme is a DPoP challenge (RFC 9449 §7.1), including rule refusals.
func TestGuardDPoPChallenges(t *testing.T) {
	w := httptest.NewRecorder()
	WriteRefusal(w, Refuse(NoToken, "bearer token required"), "api")
	if got := w.Header().Values("WWW-Authenticate"); len(got) != 2 || got[0] != `Bearer realm="api"` ||
		got[1] != `DPoP realm="api", algs="`+strings.Join(dpop.Algorithms, " ")+`"` {
		t.Fatalf("no token: %q", got)
	}
	f := newGuardFixture(t)
	g := f.dpopGuard(t, nil)
	g2 := f.guard(t, func(o *GuardOptions) {
		o.DPoP.Now = f.clock.now
		o.Scopes = append(o.Scopes, rule(scopes.All, "admin"))
	})
	c := dpoptest.NewKey(t)
	tok := f.sign(t, map[string]any{"cnf": map[string]any{"jkt": c.JKT}})
	_, err := g2.Check(dpopRequest(apiURL, tok, c.Proof(t, "GET", apiURL, tok, testNow, nil)))
	r := wantRefusal(t, err, InsufficientScope, "")
	if ch := Challenge(r, "api"); !strings.HasPrefix(ch, `DPoP realm="api", error="insufficient_scope"`) {
		t.Fatalf("scope refusal of a DPoP request: %q", ch)
	}
	expired := f.sign(t, map[string]any{"jti": "tok-x", "exp": testNow.Add(-time.Hour).Unix(), "cnf": map[string]any{"jkt": c.JKT}})
	_, err = g.Check(dpopRequest(apiURL, expired, c.Proof(t, "GET", apiURL, expired, testNow, nil)))
	if r := wantRefusal(t, err, InvalidToken, "token expired"); !r.DPoP {
		t.Fatal("an expired token sent with DPoP is refused with a Bearer challenge")
	}
	// Malformed DPoP credentials: 400, DPoP challenge.
	_, err = g.Check(bearerRequest("DPoP a,b"))
	if r := wantRefusal(t, err, InvalidRequest, ""); !r.DPoP {
		t.Fatal("a malformed DPoP credential is refused with a Bearer challenge")
	}
}

// In introspection mode, an answer with token_type DPoP and cnf.jkt binds the token as a
// JWT's cnf does, and the cached answer keeps the binding: a Bearer use is refused on a
// cache hit too, with no new call.
func TestIntrospectedDPoPBoundToken(t *testing.T) {
	srv := newAuthServer(t)
	in := newIntrospector(t, srv, nil)
	clock := newClock(time.Now())
	g, err := NewGuard(GuardOptions{Verifier: in, DPoP: DPoPOptions{Now: clock.now}})
	if err != nil {
		t.Fatal(err)
	}
	c := dpoptest.NewKey(t)
	tok := srv.issue(liveClaims(time.Hour, map[string]any{"token_type": "DPoP", "cnf": map[string]any{"jkt": c.JKT}}))
	for round := range 3 {
		if _, err := g.Check(dpopRequest(apiURL, tok, c.Proof(t, "GET", apiURL, tok, clock.now(), nil))); err != nil {
			t.Fatalf("request %d: %v", round+1, err)
		}
		in.cache.Wait()
		_, err := g.Check(bearerRequest("Bearer " + tok))
		wantRefusal(t, err, InvalidToken, "the token is DPoP-bound: send it with the DPoP scheme and a DPoP proof")
		other := dpoptest.NewKey(t)
		_, err = g.Check(dpopRequest(apiURL, tok, other.Proof(t, "GET", apiURL, tok, clock.now(), nil)))
		wantRefusal(t, err, InvalidDPoPProof, "the DPoP proof is not signed by the key the token is bound to")
	}
	if n := srv.introspections.Load(); n != 1 {
		t.Fatalf("%d introspection calls, want 1 (the answer is cached with its binding)", n)
	}
}
