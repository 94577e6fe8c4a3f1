package validator

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

func newIntrospectionCache(t testing.TB, active, inactive int64) *IntrospectionCache {
	t.Helper()
	c, err := NewIntrospectionCache(active, inactive)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newIntrospector builds an introspector for srv with a fresh cache; mutate adjusts.
func newIntrospector(t testing.TB, srv *authServer, mutate func(*IntrospectionOptions)) *Introspector {
	t.Helper()
	opts := IntrospectionOptions{
		URL:         srv.introspectURL(),
		Credentials: srv.creds(),
		Cache:       newIntrospectionCache(t, 1000, 100),
		Issuer:      testIssuer,
		Timeout:     2 * time.Second,
	}
	if mutate != nil {
		mutate(&opts)
	}
	in, err := NewIntrospector(opts)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// liveClaims are an active answer's claims for a token valid for ttl from now.
func liveClaims(ttl time.Duration, extra map[string]any) map[string]any {
	c := map[string]any{
		"iss":        testIssuer,
		"sub":        "42",
		"client_id":  "client-1",
		"jti":        "tok-" + randomToken()[:8],
		"scope":      "orders:read orders:write",
		"token_type": "Bearer",
		"exp":        time.Now().Add(ttl).Unix(),
		"iat":        time.Now().Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestIntrospectionActiveAnswerMapsToIdentity(t *testing.T) {
	srv := newAuthServer(t)
	in := newIntrospector(t, srv, nil)
	cases := []struct {
		name    string
		claims  map[string]any
		user    string
		client  string
		scopes  string
		prov    string
		expSecs int64
	}{
		{"user token, scope string", liveClaims(time.Hour, map[string]any{"provider": "users"}), "42", "client-1", "orders:read orders:write", "users", 0},
		{"scope array", liveClaims(time.Hour, map[string]any{"scope": []string{"a", "b", "a"}}), "42", "client-1", "a b", "", 0},
		{"client token, no sub", liveClaims(time.Hour, map[string]any{"sub": nil}), "", "client-1", "orders:read orders:write", "", 0},
		{"client token, sub = client", liveClaims(time.Hour, map[string]any{"sub": "client-1"}), "", "client-1", "orders:read orders:write", "", 0},
		{"numeric sub", liveClaims(time.Hour, map[string]any{"sub": 7}), "7", "client-1", "orders:read orders:write", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := srv.issue(tc.claims)
			id, err := in.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if id.UserID != tc.user || id.ClientID != tc.client || id.ScopeString != tc.scopes || id.Provider != tc.prov {
				t.Fatalf("identity = user %q client %q scopes %q provider %q", id.UserID, id.ClientID, id.ScopeString, id.Provider)
			}
			if id.TokenID != tc.claims["jti"] || id.ExpiresAt().Unix() != tc.claims["exp"].(int64) {
				t.Fatalf("jti/exp = %q %v", id.TokenID, id.ExpiresAt())
			}
		})
	}
}

func TestIntrospectionRefusesUnacceptableActiveAnswers(t *testing.T) {
	srv := newAuthServer(t)
	in := newIntrospector(t, srv, func(o *IntrospectionOptions) { o.Audiences = []string{"orders-api"} })
	cases := []struct {
		name, desc string
		claims     map[string]any
	}{
		{"refresh token", "not an access token", liveClaims(time.Hour, map[string]any{"aud": "orders-api", "token_type": "refresh_token"})},
		{"other issuer", "issuer mismatch", liveClaims(time.Hour, map[string]any{"aud": "orders-api", "iss": "https://evil.example"})},
		{"other audience", "audience mismatch", liveClaims(time.Hour, map[string]any{"aud": "billing-api"})},
		{"no audience", "audience mismatch", liveClaims(time.Hour, nil)},
		{"not yet valid", "token not yet valid", liveClaims(time.Hour, map[string]any{"aud": "orders-api", "nbf": time.Now().Add(time.Hour).Unix()})},
		// A DPoP- or certificate-bound answer passes here and is checked against the
		// request by the Guard (TestIntrospectedDPoPBoundToken); one bound by a method the
		// guard cannot check, or called DPoP without a key, is refused (RFC 9449 §7.2,
		// RFC 8705 §3: a bound token is not a bearer token).
		{"bound by a jwk", "the token is bound (cnf claim) by a confirmation method this guard cannot check", liveClaims(time.Hour, map[string]any{"aud": "orders-api", "cnf": map[string]any{"jwk": map[string]any{"kty": "EC"}}})},
		{"DPoP without jkt", "the introspection answer calls the token DPoP-bound but names no key (cnf.jkt)", liveClaims(time.Hour, map[string]any{"aud": "orders-api", "token_type": "DPoP"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := srv.issue(tc.claims)
			_, err := in.Verify(context.Background(), tok)
			wantRefusal(t, err, InvalidToken, tc.desc)
			// Remembered as unacceptable: a retry makes no call.
			in.cache.Wait()
			before := srv.introspections.Load()
			_, err = in.Verify(context.Background(), tok)
			wantRefusal(t, err, InvalidToken, "")
			if srv.introspections.Load() != before {
				t.Fatal("an unacceptable token was introspected again at once")
			}
		})
	}
	ok := srv.issue(liveClaims(time.Hour, map[string]any{"aud": []string{"x", "orders-api"}}))
	if _, err := in.Verify(context.Background(), ok); err != nil {
		t.Fatalf("a token for one of its audiences: %v", err)
	}
}

func TestIntrospectionActiveAnswerIsCachedUntilCacheTTL(t *testing.T) {
	srv := newAuthServer(t)
	// A second: the five lookups below, each waiting for the cache, must all fall within
	// it on a loaded machine.
	in := newIntrospector(t, srv, func(o *IntrospectionOptions) { o.CacheTTL = time.Second })
	tok := srv.issue(liveClaims(time.Hour, nil))
	for i := 0; i < 5; i++ {
		if _, err := in.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		in.cache.Wait()
	}
	if n := srv.introspections.Load(); n != 1 {
		t.Fatalf("5 requests made %d calls, want 1", n)
	}
	// Revoked on the server: the guard keeps its cached answer only until cache_ttl.
	srv.revoke(tok)
	time.Sleep(1200 * time.Millisecond)
	_, err := in.Verify(context.Background(), tok)
	wantRefusal(t, err, InvalidToken, "token is not active")
	if n := srv.introspections.Load(); n != 2 {
		t.Fatalf("after cache_ttl: %d calls, want 2", n)
	}
}

func TestIntrospectionActiveAnswerIsNeverCachedPastExp(t *testing.T) {
	srv := newAuthServer(t)
	in := newIntrospector(t, srv, func(o *IntrospectionOptions) {
		o.CacheTTL = time.Hour
		o.Leeway = -1
	})
	// exp is whole seconds: pick one 1-2 s away.
	exp := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second)
	if time.Until(exp) < 500*time.Millisecond {
		exp = exp.Add(time.Second)
	}
	tok := srv.issue(liveClaims(0, map[string]any{"exp": exp.Unix()}))
	if _, err := in.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	in.cache.Wait()
	if _, ok := in.cache.getActive(tok); !ok {
		t.Fatal("active answer not cached")
	}
	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	if _, ok := in.cache.getActive(tok); ok {
		t.Fatal("active answer still cached after the token's exp")
	}
	_, err := in.Verify(context.Background(), tok)
	wantRefusal(t, err, InvalidToken, "")
}

func TestIntrospectionCachedAnswerRecheckedAgainstExpiry(t *testing.T) {
	srv := newAuthServer(t)
	clk := newClock(time.Now())
	in := newIntrospector(t, srv, func(o *IntrospectionOptions) { o.Now = clk.now; o.Leeway = -1 })
	tok := srv.issue(liveClaims(time.Minute, nil))
	if _, err := in.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	in.cache.Wait()
	// The entry's TTL came from the real clock; the guard's clock jumps past exp.
	clk.add(2 * time.Minute)
	_, err := in.Verify(context.Background(), tok)
	wantRefusal(t, err, InvalidToken, "token expired")
	if n := srv.introspections.Load(); n != 1 {
		t.Fatalf("%d calls, want 1 (the hit was refused without asking)", n)
	}
}

func TestIntrospectionInactiveAnswerIsCachedBriefly(t *testing.T) {
	srv := newAuthServer(t)
	// A second: the five tries below, each waiting for the cache, must all fall within
	// it on a loaded machine.
	in := newIntrospector(t, srv, func(o *IntrospectionOptions) { o.NegativeTTL = time.Second })
	for i := 0; i < 5; i++ {
		_, err := in.Verify(context.Background(), "unknown-token")
		wantRefusal(t, err, InvalidToken, "")
		in.cache.Wait()
	}
	if n := srv.introspections.Load(); n != 1 {
		t.Fatalf("5 tries of an unknown token made %d calls, want 1", n)
	}
	time.Sleep(1200 * time.Millisecond)
	_, _ = in.Verify(context.Background(), "unknown-token")
	if n := srv.introspections.Load(); n != 2 {
		t.Fatalf("after the negative TTL: %d calls, want 2", n)
	}
}

func TestIntrospectionNegativeCacheIsBoundedInCount(t *testing.T) {
	srv := newAuthServer(t)
	const bound, garbage = 50, 1000
	in := newIntrospector(t, srv, func(o *IntrospectionOptions) {
		o.Cache = newIntrospectionCache(t, 100, bound)
		o.NegativeTTL = time.Hour
	})
	toks := make([]string, garbage)
	for i := range toks {
		toks[i] = "garbage-" + strconv.Itoa(i)
		_, err := in.Verify(context.Background(), toks[i])
		wantRefusal(t, err, InvalidToken, "")
	}
	in.cache.Wait()
	remembered := 0
	for _, tok := range toks {
		if in.cache.isInactive(tok) {
			remembered++
		}
	}
	if remembered > bound {
		t.Fatalf("%d inactive answers remembered, bound is %d", remembered, bound)
	}
	if remembered == 0 {
		t.Fatal("no inactive answer remembered at all")
	}
}

func TestIntrospectionConcurrentMissesMakeOneCall(t *testing.T) {
	srv := newAuthServer(t)
	srv.delay = 200 * time.Millisecond
	in := newIntrospector(t, srv, nil)
	tok := srv.issue(liveClaims(time.Hour, nil))
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := in.Verify(context.Background(), tok)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.introspections.Load(); n != 1 {
		t.Fatalf("50 concurrent requests made %d introspection calls, want 1", n)
	}
}

func TestIntrospectionCallerHangingUpDoesNotFailOthers(t *testing.T) {
	srv := newAuthServer(t)
	srv.delay = 300 * time.Millisecond
	in := newIntrospector(t, srv, nil)
	tok := srv.issue(liveClaims(time.Hour, nil))
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := in.Verify(ctx, tok); first <- err }()
	time.Sleep(50 * time.Millisecond)
	second := make(chan error, 1)
	go func() { _, err := in.Verify(context.Background(), tok); second <- err }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	wantRefusal(t, <-first, Unavailable, "")
	if err := <-second; err != nil {
		t.Fatalf("the second waiter failed with the first: %v", err)
	}
	if n := srv.introspections.Load(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

func TestIntrospectionFailuresAreUnavailableNeverAPass(t *testing.T) {
	for _, mode := range []string{"garbage", "noactive", "500", "503", "slow", "unreachable", "bad credentials"} {
		t.Run(mode, func(t *testing.T) {
			srv := newAuthServer(t)
			in := newIntrospector(t, srv, func(o *IntrospectionOptions) {
				o.Timeout = 200 * time.Millisecond
				switch mode {
				case "unreachable":
					o.URL = closedURL(t)
				case "bad credentials":
					o.Credentials.ClientSecret = "wrong"
				}
			})
			switch mode {
			case "slow":
				srv.delay = time.Second
			case "garbage", "noactive", "500", "503":
				srv.mode.Store(mode)
			}
			tok := srv.issue(liveClaims(time.Hour, nil))
			_, err := in.Verify(context.Background(), tok)
			r := wantRefusal(t, err, Unavailable, "")
			rec := httptest.NewRecorder()
			WriteRefusal(rec, r, "api")
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("answer %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
			}
			if rec.Header().Get("WWW-Authenticate") != "" {
				t.Fatal("a 503 carries a challenge")
			}
			// A failure is not remembered: the next request asks again.
			in.cache.Wait()
			if in.cache.isInactive(tok) {
				t.Fatal("a failed call was cached as inactive")
			}
		})
	}
}

func TestIntrospectionCachedTokensKeepPassingWhileServerIsDown(t *testing.T) {
	srv := newAuthServer(t)
	in := newIntrospector(t, srv, func(o *IntrospectionOptions) { o.Timeout = 200 * time.Millisecond })
	known := srv.issue(liveClaims(time.Hour, nil))
	fresh := srv.issue(liveClaims(time.Hour, nil))
	if _, err := in.Verify(context.Background(), known); err != nil {
		t.Fatal(err)
	}
	in.cache.Wait()
	srv.Close()
	if _, err := in.Verify(context.Background(), known); err != nil {
		t.Fatalf("cached token refused while the server is down: %v", err)
	}
	_, err := in.Verify(context.Background(), fresh)
	wantRefusal(t, err, Unavailable, "")
}

// closedURL is an http URL nobody listens on.
func closedURL(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/oauth/introspect"
}

func TestIntrospectionTokenURLGetsAndRenewsTheGuardsToken(t *testing.T) {
	srv := newAuthServer(t)
	// x/oauth2 renews 10 s before expiry: a 12 s token is due for renewal after 2 s,
	// time enough for the first three calls on a loaded machine.
	srv.guardTokenTTL = 12 * time.Second
	in := newIntrospector(t, srv, func(o *IntrospectionOptions) {
		o.Credentials.TokenURL = srv.tokenURL()
		o.Cache = nil
	})
	tok := srv.issue(liveClaims(time.Hour, nil))
	for i := 0; i < 3; i++ {
		if _, err := in.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.tokenRequests.Load(); n != 1 {
		t.Fatalf("3 calls fetched %d guard tokens, want 1", n)
	}
	time.Sleep(2200 * time.Millisecond)
	if _, err := in.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if n := srv.tokenRequests.Load(); n != 2 {
		t.Fatalf("after expiry: %d guard tokens fetched, want 2", n)
	}
	// The server forgets the guard's token: the 401 makes the guard get a new one and
	// the request still gets its answer.
	srv.revokeGuardTokens()
	if _, err := in.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the guard's token was revoked: %v", err)
	}
	if n := srv.tokenRequests.Load(); n != 3 {
		t.Fatalf("after a 401: %d guard tokens fetched, want 3", n)
	}
}

func TestIntrospectionTokenURLFailureIsUnavailable(t *testing.T) {
	srv := newAuthServer(t)
	in := newIntrospector(t, srv, func(o *IntrospectionOptions) {
		o.Credentials.TokenURL = srv.tokenURL()
		o.Credentials.ClientSecret = "wrong"
	})
	_, err := in.Verify(context.Background(), srv.issue(liveClaims(time.Hour, nil)))
	wantRefusal(t, err, Unavailable, "")
	if srv.introspections.Load() != 0 {
		t.Fatal("introspected without a token")
	}
}

func TestIntrospectionWithLocalJWTNeedsBothChecks(t *testing.T) {
	srv := newAuthServer(t)
	k := newES256(t, "k1")
	js := newJWKSServer(t, jwksFor(t, k))
	ks := newSource(t, js.URL, KeySourceOptions{})
	// Real time: the introspection server judges exp by its clock.
	jwtV, err := NewJWTVerifier(JWTOptions{Keys: ks, Issuer: testIssuer})
	if err != nil {
		t.Fatal(err)
	}
	revoked := map[string]bool{"tok-revoked": true}
	in := newIntrospector(t, srv, func(o *IntrospectionOptions) {
		o.Local = jwtV
		o.Revoked = func(jti string) bool { return revoked[jti] }
	})
	mk := func(jti string) (string, map[string]any) {
		c := liveClaims(time.Hour, map[string]any{"jti": jti, "aud": "api", "email": "g@example.com"})
		return sign(t, k, header(k, nil), c), c
	}

	good, gc := mk("tok-good")
	srv.register(good, gc)
	id, err := in.Verify(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := id.ClaimsFor("").Get("email"); v != "g@example.com" || id.TokenID != "tok-good" {
		t.Fatalf("identity is not the signed token's: %q %q", v, id.TokenID)
	}

	// Signed correctly but unknown to the server (e.g. revoked there): refused.
	unknown, _ := mk("tok-unknown")
	_, err = in.Verify(context.Background(), unknown)
	wantRefusal(t, err, InvalidToken, "token is not active")

	calls := srv.introspections.Load()
	// Bad signature: refused locally, no call.
	other := newES256(t, "k1")
	forged := sign(t, other, header(other, nil), gc)
	_, err = in.Verify(context.Background(), forged)
	wantRefusal(t, err, InvalidToken, "invalid signature")
	// Named by the revocation feed: refused without a call.
	rv, rc := mk("tok-revoked")
	srv.register(rv, rc)
	_, err = in.Verify(context.Background(), rv)
	r := wantRefusal(t, err, InvalidToken, "token revoked")
	if r.Err != ErrRevoked {
		t.Fatalf("cause = %v, want ErrRevoked", r.Err)
	}
	if srv.introspections.Load() != calls {
		t.Fatal("a token refused locally was introspected")
	}

	// The server names another jti for the token: refused.
	odd, oc := mk("tok-odd")
	oc2 := map[string]any{}
	for k, v := range oc {
		oc2[k] = v
	}
	oc2["jti"] = "tok-other"
	srv.register(odd, oc2)
	_, err = in.Verify(context.Background(), odd)
	wantRefusal(t, err, InvalidToken, "introspection answer names another token")

	// A well-signed token the server cannot be asked about: 503, never a pass on the
	// signature alone.
	down, dc := mk("tok-down")
	srv.register(down, dc)
	in.cache.Wait()
	srv.mode.Store("503")
	_, err = in.Verify(context.Background(), down)
	wantRefusal(t, err, Unavailable, "")
	// The token checked earlier is still cached and passes.
	if _, err := in.Verify(context.Background(), good); err != nil {
		t.Fatalf("cached token with the server failing: %v", err)
	}
}

func TestIntrospectorOptionsAreChecked(t *testing.T) {
	srv := newAuthServer(t)
	for name, o := range map[string]IntrospectionOptions{
		"no url":        {Credentials: srv.creds()},
		"ftp url":       {URL: "ftp://x/y", Credentials: srv.creds()},
		"no client_id":  {URL: srv.introspectURL(), Credentials: CallerCredentials{ClientSecret: "x"}},
		"no secret":     {URL: srv.introspectURL(), Credentials: CallerCredentials{ClientID: "x"}},
		"bad token_url": {URL: srv.introspectURL(), Credentials: CallerCredentials{ClientID: "x", ClientSecret: "y", TokenURL: "nope"}},
	} {
		if _, err := NewIntrospector(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestIntrospectionRefusesOversizedTokensWithoutACall(t *testing.T) {
	srv := newAuthServer(t)
	in := newIntrospector(t, srv, nil)
	huge := make([]byte, maxTokenSize+1)
	for i := range huge {
		huge[i] = 'a'
	}
	_, err := in.Verify(context.Background(), string(huge))
	wantRefusal(t, err, InvalidToken, "token too large")
	if srv.introspections.Load() != 0 {
		t.Fatal("an oversized token was sent to the server")
	}
}
