package validator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/scopes"
)

// guardFixture is a key, a verifier with a token cache over its JWKS, and a way to sign.
type guardFixture struct {
	key      *testKey
	verifier *JWTVerifier
	cache    *TokenCache
	clock    *clock
}

func newGuardFixture(t testing.TB) *guardFixture {
	t.Helper()
	k := newES256(t, "k1")
	srv := newJWKSServer(t, jwksFor(t, k))
	cache, err := NewTokenCache(1000)
	if err != nil {
		t.Fatal(err)
	}
	f := &guardFixture{key: k, cache: cache, clock: newClock(testNow)}
	f.verifier = newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), func(o *JWTOptions) {
		o.Cache, o.Now = cache, f.clock.now
	})
	return f
}

func (f *guardFixture) sign(t testing.TB, extra map[string]any) string {
	t.Helper()
	return sign(t, f.key, header(f.key, nil), claims(extra))
}

func (f *guardFixture) guard(t testing.TB, mutate func(*GuardOptions)) *Guard {
	t.Helper()
	opts := GuardOptions{Verifier: f.verifier}
	if mutate != nil {
		mutate(&opts)
	}
	g, err := NewGuard(opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func rule(mode scopes.Mode, list ...string) scopes.Rule { return scopes.Rule{Mode: mode, Scopes: list} }

// bearerRequest is a request to the API with the given Authorization header value.
func bearerRequest(auth string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://api.test/orders", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

// Two guards sharing one verifier (and so one verified-token cache) each apply their own
// scope rules on every request, cache hit or not.
func TestGuardRulesAreCheckedOnEveryCacheHit(t *testing.T) {
	f := newGuardFixture(t)
	read := f.guard(t, func(o *GuardOptions) { o.Scopes = []scopes.Rule{rule(scopes.All, "read")} })
	write := f.guard(t, func(o *GuardOptions) { o.Scopes = []scopes.Rule{rule(scopes.All, "orders:write")} })
	tok := f.sign(t, nil)
	for range 2 { // the cache takes a token on its second sighting
		if _, err := read.Check(bearerRequest("Bearer " + tok)); err != nil {
			t.Fatal(err)
		}
	}
	hits := f.cache.Hits()
	for range 3 {
		_, err := write.Check(bearerRequest("Bearer " + tok))
		wantRefusal(t, err, InsufficientScope, "")
		if _, err := read.Check(bearerRequest("Bearer " + tok)); err != nil {
			t.Fatalf("read guard, cached token: %v", err)
		}
	}
	if got := f.cache.Hits() - hits; got < 6 {
		t.Fatalf("cache hits %d, want every repeat request served from the cache", got)
	}
}

// A cached token stops passing at its exp: the cache never outlives the token.
func TestGuardRefusesACachedTokenOnceExpired(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t, nil)
	exp := testNow.Add(3 * time.Second)
	tok := f.sign(t, map[string]any{"exp": exp.Unix()})
	for range 2 {
		if _, err := g.Check(bearerRequest("Bearer " + tok)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := f.cache.Get(tok); !ok {
		t.Fatal("the token was not cached")
	}
	f.clock.set(exp.Add(DefaultLeeway + time.Millisecond))
	_, err := g.Check(bearerRequest("Bearer " + tok))
	wantRefusal(t, err, InvalidToken, "token expired")
}

// subject user | client | any, with a user token, a client token whose sub is the client
// (this server's), and one with no sub (Laravel Passport's).
func TestGuardSubjectRule(t *testing.T) {
	f := newGuardFixture(t)
	user := f.sign(t, nil)
	client := f.sign(t, map[string]any{"sub": "client-1", "jti": "tok-2"})
	passportClient := f.sign(t, map[string]any{"sub": "", "client_id": nil, "aud": "client-1", "jti": "tok-3"})
	for _, c := range []struct {
		subject                    string
		user, client, passportPass bool
	}{
		{"", true, true, true},
		{"any", true, true, true},
		{"user", true, false, false},
		{"client", false, true, true},
	} {
		t.Run("subject="+c.subject, func(t *testing.T) {
			subject, err := ParseSubject(c.subject)
			if err != nil {
				t.Fatal(err)
			}
			g := f.guard(t, func(o *GuardOptions) { o.Subject = subject })
			for tok, pass := range map[string]bool{user: c.user, client: c.client, passportClient: c.passportPass} {
				_, err := g.Check(bearerRequest("Bearer " + tok))
				if pass && err != nil {
					t.Errorf("token %.30s...: refused: %v", tok, err)
				}
				if !pass {
					wantRefusal(t, err, InvalidToken, "")
				}
			}
		})
	}
	if _, err := ParseSubject("robot"); err == nil {
		t.Error("subject robot accepted")
	}
}

// provider accepts only tokens issued for that user provider (Passport's guards).
func TestGuardProviderRule(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t, func(o *GuardOptions) { o.Provider = "customers" })
	if _, err := g.Check(bearerRequest("Bearer " + f.sign(t, map[string]any{"provider": "customers"}))); err != nil {
		t.Fatalf("token of the provider: %v", err)
	}
	for name, tok := range map[string]string{
		"other provider": f.sign(t, map[string]any{"provider": "admins", "jti": "p2"}),
		"no provider":    f.sign(t, map[string]any{"jti": "p3"}),
	} {
		_, err := g.Check(bearerRequest("Bearer " + tok))
		wantRefusal(t, err, InvalidToken, "the token was not issued for this user provider")
		_ = name
	}
}

// Passport writes its scopes as a `scopes` array; others use `scp`. Every form meets the
// same rules.
func TestGuardAppliesRulesToEveryScopeClaimForm(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t, func(o *GuardOptions) { o.Scopes = []scopes.Rule{rule(scopes.All, "orders:read", "orders:write")} })
	for i, form := range []map[string]any{
		{"scope": "orders:read orders:write"},
		{"scope": nil, "scopes": []string{"orders:read", "orders:write"}},
		{"scope": nil, "scp": []string{"orders:write", "orders:read"}},
		{"scope": nil, "scp": "orders:read orders:write"},
	} {
		form["jti"] = "form-" + string(rune('a'+i))
		id, err := g.Check(bearerRequest("Bearer " + f.sign(t, form)))
		if err != nil {
			t.Errorf("form %v: %v", form, err)
			continue
		}
		if !strings.Contains(id.ScopeString, "orders:read") || !strings.Contains(id.ScopeString, "orders:write") {
			t.Errorf("form %v: scopes %q", form, id.ScopeString)
		}
	}
	for i, form := range []map[string]any{
		{"scope": "orders:read"},
		{"scope": nil, "scopes": []string{"orders:read"}},
		{"scope": nil, "scp": []string{"orders:read"}},
	} {
		form["jti"] = "short-" + string(rune('a'+i))
		_, err := g.Check(bearerRequest("Bearer " + f.sign(t, form)))
		wantRefusal(t, err, InsufficientScope, "")
	}
}

// Every row of the contract's RFC 6750 table, decided by the Guard and written by
// WriteRefusal, as the Caddy module does.
func TestGuardRefusalsFollowTheContractTable(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t, func(o *GuardOptions) { o.Scopes = []scopes.Rule{rule(scopes.All, "orders:read", "orders:write")} })
	good := f.sign(t, map[string]any{"scope": "orders:read orders:write"})
	parts := strings.Split(good, ".")
	other := newES256(t, "k1")
	otherKey := sign(t, other, header(other, nil), claims(map[string]any{"scope": "orders:read orders:write"}))
	rows := []struct {
		name, auth   string
		status       int
		code, bearer string // bearer: the WWW-Authenticate value's expected start
	}{
		{"no token", "", 401, "", `Bearer realm="orders"`},
		{"malformed header", "Bearer", 400, "invalid_request", `Bearer realm="orders", error="invalid_request"`},
		{"two tokens", "Bearer " + good + ", Bearer " + good, 400, "invalid_request", `Bearer realm="orders", error="invalid_request"`},
		{"bad signature", "Bearer " + parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), 401, "invalid_token", `Bearer realm="orders", error="invalid_token"`},
		{"expired", "Bearer " + f.sign(t, map[string]any{"exp": testNow.Add(-time.Hour).Unix()}), 401, "invalid_token", `Bearer realm="orders", error="invalid_token"`},
		{"unknown key", "Bearer " + otherKey, 401, "invalid_token", `Bearer realm="orders", error="invalid_token"`},
		{"wrong issuer", "Bearer " + f.sign(t, map[string]any{"iss": "https://evil.test"}), 401, "invalid_token", `Bearer realm="orders", error="invalid_token"`},
		{"scopes missing", "Bearer " + f.sign(t, map[string]any{"scope": "orders:read"}), 403, "insufficient_scope", `Bearer realm="orders", error="insufficient_scope"`},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			id, err := g.Check(bearerRequest(r.auth))
			if err == nil {
				t.Fatalf("passed as %+v", id)
			}
			rec := httptest.NewRecorder()
			WriteRefusal(rec, err, "orders")
			if rec.Code != r.status {
				t.Fatalf("status %d, want %d", rec.Code, r.status)
			}
			wa := rec.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(wa, r.bearer) {
				t.Errorf("WWW-Authenticate %q, want it to start %q", wa, r.bearer)
			}
			if r.code == "" && strings.Contains(wa, "error=") {
				t.Errorf("no-token challenge carries an error: %q", wa)
			}
			if r.code == "insufficient_scope" && !strings.Contains(wa, `scope="orders:read orders:write"`) {
				t.Errorf("insufficient_scope does not name the required scopes: %q", wa)
			}
			var body map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if body["error"] == nil || (r.code != "" && body["error"] != r.code) {
				t.Errorf("body %v, want error %q", body, r.code)
			}
			if _, ok := body["error_description"]; !ok {
				t.Errorf("body %v has no error_description", body)
			}
		})
	}
}

// Keys not loadable yet (RetryFirstLoad): every request gets 503 with Retry-After and no
// challenge, never a pass; once the JWKS answers, the next request loads it and passes.
func TestGuardAnswers503UntilItsKeysLoad(t *testing.T) {
	k := newES256(t, "k1")
	srv := newJWKSServer(t, jwksFor(t, k))
	srv.status.Store(http.StatusServiceUnavailable)
	loaded := make(chan struct{}, 2)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	src, err := NewKeySourceContext(ctx, srv.URL, KeySourceOptions{
		RetryFirstLoad: true, RefreshInterval: -1,
		OnLoaded: func() { loaded <- struct{}{} },
	})
	if err != nil {
		t.Fatalf("a URL that does not answer yet must not fail the start: %v", err)
	}
	t.Cleanup(src.Close)
	if src.Pending() == nil || src.Len() != 0 {
		t.Fatalf("pending %v, %d keys", src.Pending(), src.Len())
	}
	g, err := NewGuard(GuardOptions{Verifier: newVerifier(t, src, nil)})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, k, header(k, nil), claims(nil))
	for range 3 {
		_, err := g.Check(bearerRequest("Bearer " + tok))
		r := wantRefusal(t, err, Unavailable, "")
		if !errors.Is(err, ErrKeysNotLoaded) || r.RetryAfter != KeysPendingRetryAfter {
			t.Fatalf("refusal %v, retry after %v", err, r.RetryAfter)
		}
		rec := httptest.NewRecorder()
		WriteRefusal(rec, err, "api")
		if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" || rec.Header().Get("WWW-Authenticate") != "" {
			t.Fatalf("answer %d %v", rec.Code, rec.Header())
		}
	}
	srv.status.Store(http.StatusOK)
	eventually(t, 10*time.Second, "the keys load once the JWKS answers", func() bool {
		_, err := g.Check(bearerRequest("Bearer " + tok))
		return err == nil
	})
	if src.Pending() != nil || src.Len() != 1 {
		t.Fatalf("after loading: pending %v, %d keys", src.Pending(), src.Len())
	}
	select {
	case <-loaded:
	case <-time.After(time.Second):
		t.Fatal("OnLoaded was not told")
	}
	select {
	case <-loaded:
		t.Fatal("OnLoaded was told twice")
	default:
	}
}

// Requests while the keys stay unreachable do not each fetch: tries are shared and at
// most one per failedLoadGap; the background retry loop stops with its context.
func TestKeySourceStartingUnloadedBoundsItsFetches(t *testing.T) {
	k := newES256(t, "k1")
	srv := newJWKSServer(t, jwksFor(t, k))
	srv.status.Store(http.StatusServiceUnavailable)
	ctx, cancel := context.WithCancel(context.Background())
	src, err := NewKeySourceContext(ctx, srv.URL, KeySourceOptions{RetryFirstLoad: true, RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-src.done // the background retries end with the context
	before := srv.requests.Load()
	g, _ := NewGuard(GuardOptions{Verifier: newVerifier(t, src, nil)})
	tok := sign(t, k, header(k, nil), claims(nil))
	for range 50 {
		_, err := g.Check(bearerRequest("Bearer " + tok))
		wantRefusal(t, err, Unavailable, "")
	}
	if n := srv.requests.Load() - before; n > 2 {
		t.Fatalf("50 requests within %v made %d fetches", failedLoadGap, n)
	}
	src.Close()
}

// A file location must load at once even with RetryFirstLoad: a missing file is a
// configuration error.
func TestKeySourceFileMustLoadAtOnce(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.json")
	if _, err := NewKeySourceContext(context.Background(), missing, KeySourceOptions{RetryFirstLoad: true}); err == nil {
		t.Fatal("a missing JWKS file was accepted")
	}
	if err := os.WriteFile(missing, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewKeySourceContext(context.Background(), missing, KeySourceOptions{RetryFirstLoad: true}); err == nil {
		t.Fatal("a garbage JWKS file was accepted")
	}
}

// cgiName is the variable CGI and FastCGI give a header: what a PHP upstream reads.
func cgiName(header string) string {
	b := []byte("HTTP_")
	for i := 0; i < len(header); i++ {
		c := header[i]
		switch {
		case c == '-' || c == '.':
			c = '_'
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// The caller's identity headers go in every spelling an upstream might read as the real
// one (case, '_' or '.' for '-', several copies), on a pass and on a refusal alike, and
// so do the host's extra headers; headers that only resemble them stay.
func TestGuardStripsSpoofedIdentityHeadersInEverySpelling(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t, func(o *GuardOptions) { o.StripHeaders = []string{"X-User-Email"} })
	protected := []string{"X-OAuth-User-Id", "X-OAuth-Client-Id", "X-OAuth-Scopes", "X-OAuth-Token-Id", "X-User-Email"}
	spoofs := http.Header{}
	for _, name := range protected {
		under, dots := []byte(name), []byte(name)
		for i := range under {
			if under[i] == '-' {
				under[i], dots[i] = '_', '.'
			}
		}
		for _, variant := range []string{
			name,
			textproto.CanonicalMIMEHeaderKey(name),
			textproto.CanonicalMIMEHeaderKey(string(under)),
			string(under),
			strings.ToLower(string(under)),
			string(dots),
			textproto.CanonicalMIMEHeaderKey(string(dots)),
		} {
			spoofs[variant] = append(spoofs[variant], "admin", "root")
		}
	}
	keep := http.Header{"X-Oauth-User-Idx": {"keep"}, "X-Oauth-User": {"keep"}, "Accept": {"text/plain"}}
	for name, auth := range map[string]string{
		"user token":   "Bearer " + f.sign(t, nil),
		"client token": "Bearer " + f.sign(t, map[string]any{"sub": "client-1", "jti": "tok-c"}),
		"no token":     "",
		"bad token":    "Bearer not.a.token",
	} {
		t.Run(name, func(t *testing.T) {
			r := bearerRequest(auth)
			for k, v := range spoofs {
				r.Header[k] = append([]string(nil), v...)
			}
			for k, v := range keep {
				r.Header[k] = v
			}
			_, _ = g.Check(r)
			for k := range r.Header {
				for _, p := range protected {
					if cgiName(k) == cgiName(p) {
						t.Errorf("spoofed %s (%s) survived", k, cgiName(p))
					}
				}
			}
			for k := range keep {
				if r.Header.Get(k) == "" {
					t.Errorf("unrelated header %s was removed", k)
				}
			}
		})
	}
}

// A first-party cookie token passes only with its csrf claim in a CSRF header, and only
// when the request has no Authorization header; a guard without a cookie name ignores
// cookies.
func TestGuardCookieTokenNeedsItsCSRFHeader(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t, func(o *GuardOptions) { o.Cookie = "api_token" })
	cookieTok := f.sign(t, map[string]any{"csrf": "c5rf-value", "jti": "cookie-1"})
	plainTok := f.sign(t, map[string]any{"jti": "plain-1"})
	req := func(tok, auth string, hdr map[string]string) *http.Request {
		r := bearerRequest(auth)
		r.AddCookie(&http.Cookie{Name: "api_token", Value: tok})
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		return r
	}
	for _, h := range []string{"X-XSRF-TOKEN", "X-CSRF-TOKEN"} {
		if _, err := g.Check(req(cookieTok, "", map[string]string{h: "c5rf-value"})); err != nil {
			t.Errorf("cookie token with %s: %v", h, err)
		}
	}
	refused := map[string]*http.Request{
		"no CSRF header":                 req(cookieTok, "", nil),
		"wrong CSRF value":               req(cookieTok, "", map[string]string{"X-XSRF-TOKEN": "guess"}),
		"token without a csrf claim":     req(plainTok, "", map[string]string{"X-XSRF-TOKEN": ""}),
		"planted token, header of other": req(plainTok, "", map[string]string{"X-XSRF-TOKEN": "c5rf-value"}),
	}
	for name, r := range refused {
		_, err := g.Check(r)
		wantRefusal(t, err, InvalidToken, "a cookie token needs the X-XSRF-TOKEN or X-CSRF-TOKEN header")
		_ = name
	}
	// Seen twice above, the cookie token is now served from the cache, which keeps no
	// claims: its csrf claim is read from the token again, and still decides.
	if _, ok := f.cache.Get(cookieTok); !ok {
		t.Fatal("cookie token not cached: the checks below would not exercise a cache hit")
	}
	if _, err := g.Check(req(cookieTok, "", map[string]string{"X-XSRF-TOKEN": "c5rf-value"})); err != nil {
		t.Errorf("cached cookie token with its CSRF header: %v", err)
	}
	_, err := g.Check(req(cookieTok, "", map[string]string{"X-XSRF-TOKEN": "guess"}))
	wantRefusal(t, err, InvalidToken, "a cookie token needs the X-XSRF-TOKEN or X-CSRF-TOKEN header")
	// An Authorization header wins: its token is checked, the cookie never read.
	_, err = g.Check(req(cookieTok, "Bearer garbage.garbage.garbage", map[string]string{"X-XSRF-TOKEN": "c5rf-value"}))
	wantRefusal(t, err, InvalidToken, "")
	// Without a cookie name, a cookie alone is no token.
	_, err = f.guard(t, nil).Check(req(cookieTok, "", map[string]string{"X-XSRF-TOKEN": "c5rf-value"}))
	wantRefusal(t, err, NoToken, "")
}

// A token the revocation feed names is refused on every request, cached or not.
func TestGuardRefusesTokensTheFeedRevoked(t *testing.T) {
	f := newGuardFixture(t)
	srv := newAuthServer(t)
	feed := newFeed(t, srv, nil)
	eventually(t, 2*time.Second, "first snapshot", feed.Synced)
	g := f.guard(t, func(o *GuardOptions) { o.Revocations = []RevocationList{feed} })
	tok := f.sign(t, map[string]any{"jti": "to-revoke"})
	for range 2 {
		if _, err := g.Check(bearerRequest("Bearer " + tok)); err != nil {
			t.Fatal(err)
		}
	}
	srv.recordRevocation("to-revoke", testNow.Add(time.Hour).Unix())
	eventually(t, 5*time.Second, "the feed names the token", func() bool { return feed.Revoked("to-revoke") })
	_, err := g.Check(bearerRequest("Bearer " + tok))
	if r := wantRefusal(t, err, InvalidToken, "token revoked"); !errors.Is(r, ErrRevoked) {
		t.Fatalf("refusal %v does not carry ErrRevoked", err)
	}
	if _, err := g.Check(bearerRequest("Bearer " + f.sign(t, map[string]any{"jti": "other"}))); err != nil {
		t.Fatalf("another token: %v", err)
	}
}

func TestNewGuardChecksOptions(t *testing.T) {
	if _, err := NewGuard(GuardOptions{}); err == nil {
		t.Error("a guard without a verifier was built")
	}
	f := newGuardFixture(t)
	if _, err := NewGuard(GuardOptions{Verifier: f.verifier, Scopes: []scopes.Rule{{Mode: scopes.All}}}); err == nil {
		t.Error("an empty scope rule was accepted")
	}
}

// Security probe: a signed token whose sub, scope, client or jti carries CR, LF or another
// control character is refused at the guard (401), not left for the proxy to fail on
// (502) or to split into a second header.
func TestGuardRefusesClaimsThatCannotBeHeaderValues(t *testing.T) {
	f := newGuardFixture(t)
	g := f.guard(t, nil)
	for name, extra := range map[string]map[string]any{
		"sub with CRLF":     {"sub": "42\r\nX-Oauth-User-Id: 1"},
		"scope with LF":     {"scope": "read\nwrite"},
		"client_id with CR": {"client_id": "client-1\r"},
		"jti with NUL":      {"jti": "tok\x00-1"},
		"provider with DEL": {"provider": "users\x7f"},
	} {
		t.Run(name, func(t *testing.T) {
			tok := f.sign(t, extra)
			for range 3 { // and again when seen before: such a token is never cached
				_, err := g.Check(bearerRequest("Bearer " + tok))
				wantRefusal(t, err, InvalidToken, "the token's claims contain control characters")
			}
		})
	}
	// A tab or any printable text is fine.
	if _, err := g.Check(bearerRequest("Bearer " + f.sign(t, map[string]any{"sub": "ü 42", "jti": "tok-2"}))); err != nil {
		t.Fatalf("printable claims: %v", err)
	}
}
