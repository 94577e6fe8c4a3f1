package authserver_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

const requestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// push sends a pushed authorization request (RFC 9126 §2.1); with a secret the client
// authenticates by HTTP Basic, without one form is sent as it is (a public client names
// itself by client_id).
func (s *site) push(form url.Values, clientID, secret string) tokenReply {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+authserver.PathPAR, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(clientID, secret)
	}
	return s.do(req)
}

// pushed pushes form and returns the request_uri, checking the answer's shape.
func (s *site) pushed(form url.Values, clientID, secret string) string {
	s.t.Helper()
	r := s.push(form, clientID, secret)
	uri, _ := r.Body["request_uri"].(string)
	if r.Status != http.StatusCreated || r.Body["expires_in"] != float64(60) || r.Header.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(uri, requestURIPrefix) {
		s.t.Fatalf("push: %d %v %v", r.Status, r.Header, r.Body)
	}
	// At least 128 bits of randomness after the prefix (base64url: 6 bits a character).
	if n := len(strings.TrimPrefix(uri, requestURIPrefix)); n*6 < 128 {
		s.t.Fatalf("request_uri %q has %d random characters", uri, n)
	}
	return uri
}

// byRequestURI is the authorization request that names a pushed one.
func byRequestURI(clientID, uri string) url.Values {
	return url.Values{"client_id": {clientID}, "request_uri": {uri}}
}

// refusedOnPage fails unless p is the error page: a 4xx, no redirect.
func refusedOnPage(t *testing.T, what string, p page) {
	t.Helper()
	if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
		t.Fatalf("%s: %d, Location %q, body %.300s", what, p.status, p.header.Get("Location"), p.body)
	}
}

// The whole flow through a pushed request: the push carries the parameters, the browser
// only client_id and request_uri (through login and the consent form too); other query
// parameters are ignored; the code needs the pushed PKCE challenge's verifier; and the
// request_uri is spent once the code is issued.
func TestPushedAuthorizationRequestFlowIssuesTokensOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		push := spaQuery()
		uri := s.pushed(push, "spa", "")
		if strings.Contains(f.dump(), strings.TrimPrefix(uri, requestURIPrefix)) {
			t.Error("the request_uri itself is stored")
		}
		b := s.browser(t)
		q := byRequestURI("spa", uri)
		// Ignored: RFC 9126 §4 takes the pushed parameters only.
		ignored := byRequestURI("spa", uri)
		ignored.Set("state", "st-evil")
		ignored.Set("redirect_uri", "https://evil.example/cb")
		loc := b.authorize(ignored).location(t)
		if loc.Path != authserver.PathLogin {
			t.Fatalf("not signed in: Location %s", loc)
		}
		returnTo := loc.Query().Get("return_to")
		if !strings.Contains(returnTo, "request_uri=") || strings.Contains(returnTo, "code_challenge") || strings.Contains(returnTo, "evil") {
			t.Fatalf("the way back carries %q", returnTo)
		}
		back := b.login(returnTo).location(t)
		consent := b.get(back.RequestURI())
		if consent.status != http.StatusOK || !strings.Contains(consent.body, "Single Page") || !strings.Contains(consent.body, "Write orders") {
			t.Fatalf("consent page: %d %.500s", consent.status, consent.body)
		}
		if !strings.Contains(consent.body, `name="request_uri"`) || strings.Contains(consent.body, `name="code_challenge"`) {
			t.Fatalf("the consent form carries the raw parameters: %.1500s", consent.body)
		}
		p := b.decide(q, consent, "approve")
		loc = p.location(t)
		if p.status != http.StatusSeeOther || loc.Scheme+"://"+loc.Host+loc.Path != spaCB || loc.Query().Get("state") != "st-123" {
			t.Fatalf("approve: %d %s", p.status, loc)
		}
		code := loc.Query().Get("code")
		r := s.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaCB}, "code_verifier": {verifier}})
		if r.Status != http.StatusOK || r.Body["scope"] != "orders:read orders:write" {
			t.Fatalf("exchange: %d %v", r.Status, r.Body)
		}
		if _, cl := f.claims(r.Body["access_token"].(string)); cl["sub"] != f.userID || cl["client_id"] != "spa" {
			t.Errorf("claims %v", cl)
		}
		// Spent: neither the link (consent is remembered now) nor the form again.
		before := f.dump()
		refusedOnPage(t, "the request_uri again", b.authorize(q))
		refusedOnPage(t, "the consent form again", b.decide(q, consent, "approve"))
		if f.dump() != before {
			t.Error("a spent request_uri changed the store")
		}
	})
}

// A confidential client pushes with HTTP Basic; a denial is the authorization response
// and spends the request_uri as a code would.
func TestPushedRequestOfAConfidentialClientAndItsDenial(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		uri := s.pushed(webQuery(), "web", webSecret)
		q := byRequestURI("web", uri)
		consent := b.authorize(q)
		loc := b.decide(q, consent, "deny").location(t)
		if loc.Scheme+"://"+loc.Host+loc.Path != webCB || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-web" {
			t.Fatalf("deny: %s", loc)
		}
		refusedOnPage(t, "after the denial", b.authorize(q))

		// client_secret_post, with the client_id in the body, works too.
		form := webQuery()
		form.Set("client_secret", webSecret)
		uri = s.pushed(form, "web", "")
		consent = b.authorize(byRequestURI("web", uri))
		if strings.Contains(consent.body, webSecret) {
			t.Fatal("the client secret was kept with the pushed request")
		}
		code := b.decide(byRequestURI("web", uri), consent, "approve").location(t).Query().Get("code")
		if r := s.exchange("web", webSecret, url.Values{"code": {code}, "redirect_uri": {webCB}}); r.Status != http.StatusOK {
			t.Fatalf("exchange: %d %v", r.Status, r.Body)
		}
	})
}

// A request_uri is bound to the client that pushed it: another client naming it, or a
// made-up one, gets an error page, never a redirect (which would send the browser to the
// pushing client's redirect URI on another client's behalf), and nothing is spent.
func TestPushedRequestOfAnotherClientIsRefusedWithoutRedirect(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		uri := s.pushed(webQuery(), "web", webSecret)
		before := f.dump()
		refusedOnPage(t, "another client", b.authorize(byRequestURI("web2", uri)))
		refusedOnPage(t, "no client_id", b.authorize(url.Values{"request_uri": {uri}}))
		refusedOnPage(t, "made up", b.authorize(byRequestURI("web", requestURIPrefix+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")))
		refusedOnPage(t, "other scheme", b.authorize(byRequestURI("web", "https://client.example/req.jwt")))
		if f.dump() != before {
			t.Error("a refused request_uri changed the store")
		}
		// Still good for its own client.
		if p := b.authorize(byRequestURI("web", uri)); p.status != http.StatusOK {
			t.Fatalf("own client afterwards: %d %.300s", p.status, p.body)
		}
	})
}

// A request_uri lives 60 seconds (the expires_in of the push), sign-in and consent
// included.
func TestExpiredPushedRequestIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		var offset atomic.Int64
		s := browserSite(t, f, func(c *authserver.Config) {
			c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		})
		b := s.browser(t)
		b.login("")
		uri := s.pushed(webQuery(), "web", webSecret)
		q := byRequestURI("web", uri)
		consent := b.authorize(q)
		if consent.status != http.StatusOK {
			t.Fatalf("within its life: %d", consent.status)
		}
		offset.Store(int64(61 * time.Second))
		before := f.dump()
		refusedOnPage(t, "expired, by link", b.authorize(q))
		refusedOnPage(t, "expired, by the consent form", b.decide(q, consent, "approve"))
		if f.dump() != before {
			t.Error("an expired request_uri changed the store")
		}
	})
}

// A client registered with RequirePAR is refused at the authorization endpoint without
// a request_uri, with an error sent to its (verified) redirect URI; pushed, it works.
func TestClientRequiringPARIsRefusedWithoutAPushedRequest(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		now := time.Now().UTC()
		if err := f.st.CreateClient(context.Background(), &store.Client{
			ID: "strict", Name: "Strict", SecretHash: authserver.HashSecret(webSecret), RedirectURIs: []string{webCB},
			Grants: []string{"authorization_code"}, RequirePAR: true, CreatedAt: now, UpdatedAt: now,
		}); err != nil {
			t.Fatal(err)
		}
		b := s.browser(t)
		b.login("")
		q := webQuery()
		q.Set("client_id", "strict")
		before := f.dump()
		loc := b.authorize(q).location(t)
		if loc.Scheme+"://"+loc.Host+loc.Path != webCB || loc.Query().Get("error") != "invalid_request" ||
			loc.Query().Get("state") != "st-web" || loc.Query().Get("code") != "" {
			t.Fatalf("without PAR: %s", loc)
		}
		if f.dump() != before {
			t.Error("the refusal changed the store")
		}
		uri := s.pushed(q, "strict", webSecret)
		if code := b.codeFor(byRequestURI("strict", uri)); code == "" {
			t.Fatal("no code with PAR")
		}
	})
}

// Bad pushes get RFC 6749 §5.2 JSON errors (never a redirect) and store nothing.
func TestBadPushesGetJSONErrorsAndStoreNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		with := func(q url.Values, kv ...string) url.Values {
			out := url.Values{}
			for k, v := range q {
				out[k] = append([]string(nil), v...)
			}
			for i := 0; i < len(kv); i += 2 {
				out.Set(kv[i], kv[i+1])
			}
			return out
		}
		noPKCE := spaQuery()
		noPKCE.Del("code_challenge")
		noPKCE.Del("code_challenge_method")
		repeated := webQuery()
		repeated.Add("scope", "orders:write")
		for name, tc := range map[string]struct {
			form           url.Values
			id, secret     string
			status         int
			wantError      string
			wantBasicChall bool
		}{
			"unknown redirect_uri":       {with(webQuery(), "redirect_uri", "https://evil.example/cb"), "web", webSecret, 400, "invalid_request", false},
			"public client, no PKCE":     {noPKCE, "", "", 400, "invalid_request", false},
			"wrong secret":               {webQuery(), "web", "wrong", 401, "invalid_client", true},
			"no client authentication":   {with(webQuery(), "client_id", ""), "", "", 401, "invalid_client", false},
			"secret of another client":   {with(webQuery(), "client_id", "web2"), "web2", "x" + webSecret, 401, "invalid_client", true},
			"body client_id not Basic's": {with(webQuery(), "client_id", "web2"), "web", webSecret, 400, "invalid_request", false},
			"repeated parameter":         {repeated, "web", webSecret, 400, "invalid_request", false},
			"request object":             {with(webQuery(), "request", "eyJhbGciOiJub25lIn0.e30."), "web", webSecret, 400, "invalid_request", false},
			"request_uri inside":         {with(webQuery(), "request_uri", requestURIPrefix+"x"), "web", webSecret, 400, "invalid_request", false},
			"unsupported response_type":  {with(webQuery(), "response_type", "id_token"), "web", webSecret, 400, "unsupported_response_type", false},
			"unknown scope":              {with(webQuery(), "scope", "admin"), "web", webSecret, 400, "invalid_scope", false},
			"client without code grant":  {with(spaQuery(), "client_id", "imp", "redirect_uri", impCB), "", "", 400, "unauthorized_client", false},
		} {
			before := f.dump()
			r := s.push(tc.form, tc.id, tc.secret)
			if r.Status != tc.status || r.Body["error"] != tc.wantError || r.Header.Get("Location") != "" ||
				r.Header.Get("Cache-Control") != "no-store" || r.Body["request_uri"] != nil {
				t.Errorf("%s: %d %v %v", name, r.Status, r.Header, r.Body)
			}
			if got := r.Header.Get("WWW-Authenticate") != ""; got != tc.wantBasicChall {
				t.Errorf("%s: WWW-Authenticate %q", name, r.Header.Get("WWW-Authenticate"))
			}
			if f.dump() != before {
				t.Errorf("%s: the refused push changed the store", name)
			}
		}
		// Only POST, only a form.
		req, _ := http.NewRequest(http.MethodGet, s.url+authserver.PathPAR+"?"+webQuery().Encode(), nil)
		if r := s.do(req); r.Status != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d", r.Status)
		}
		req, _ = http.NewRequest(http.MethodPost, s.url+authserver.PathPAR, strings.NewReader(`{"client_id":"web"}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("web", webSecret)
		if r := s.do(req); r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_request" {
			t.Errorf("JSON body: %d %v", r.Status, r.Body)
		}
	})
}

// Two authorizations racing with one request_uri: at most one code comes out (exactly
// one here, the request being good), whatever the interleaving.
func TestConcurrentUsesOfOneRequestURIIssueAtMostOneCode(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		q := webQuery()
		q.Set("client_id", "own") // first party: the code comes without a consent step
		uri := s.pushed(q, "own", webSecret)
		const n = 8
		var wg sync.WaitGroup
		var codes, refused atomic.Int32
		start := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req, _ := http.NewRequest(http.MethodGet, s.url+authserver.PathAuthorize+"?"+byRequestURI("own", uri).Encode(), nil)
				resp, err := b.c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if loc, _ := url.Parse(resp.Header.Get("Location")); loc != nil && loc.Query().Get("code") != "" {
					codes.Add(1)
				} else if resp.StatusCode == http.StatusBadRequest {
					refused.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if codes.Load() != 1 || refused.Load() != n-1 {
			t.Fatalf("%d codes, %d refused, of %d", codes.Load(), refused.Load(), n)
		}
	})
}

// prompt=login in a pushed request makes the person sign in again once: the sign-in made
// since the push satisfies it, so the way back does not loop to the login form.
func TestPushedPromptLoginSignsInOnceWithoutLooping(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		q := webQuery()
		q.Set("client_id", "own")
		q.Set("prompt", "login")
		uri := s.pushed(q, "own", webSecret)
		loc := b.authorize(byRequestURI("own", uri)).location(t)
		if loc.Path != authserver.PathLogin {
			t.Fatalf("prompt=login: %s", loc)
		}
		form := b.get(loc.RequestURI())
		old := b.sessionCookie()
		done := b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {userEmail}, "password": {userPass},
			"return_to": {loc.Query().Get("return_to")}}, nil)
		if b.sessionCookie() == old {
			t.Fatal("no new session")
		}
		back := done.location(t)
		if code := b.get(back.RequestURI()).location(t).Query().Get("code"); code == "" {
			t.Fatalf("after signing in again: no code (%s)", back)
		}
	})
}

// The PAR endpoint authenticates as the token endpoint does, private_key_jwt included
// (RFC 9126 §2): a client pushes with an assertion whose aud is the PAR endpoint, the
// browser part runs on the request_uri, the code is exchanged with a second assertion;
// the first assertion, replayed at the PAR endpoint, is refused.
func TestPrivateKeyJWTClientPushesItsAuthorizationRequest(t *testing.T) {
	k1, k2 := newAssertionKey(t, "ES256", "k1"), newAssertionKey(t, "ES256", "k2")
	f := sqliteFixture(t)
	keyClients(t, f, k1, k2)
	s := browserSite(t, f, nil)
	assertion := k1.sign(t, claimsFor("kjwt", s.url+authserver.PathPAR))
	form := assertionForm(assertion, url.Values{"response_type": {"code"}, "client_id": {"kjwt"}, "redirect_uri": {webCB},
		"scope": {"orders:read"}, "state": {"st-par-k"}})
	uri := s.pushed(form, "", "")
	if r := s.push(form, "", ""); r.Status != http.StatusUnauthorized || r.Body["error"] != "invalid_client" {
		t.Fatalf("replayed assertion at the PAR endpoint: %d %v", r.Status, r.Body)
	}
	code := s.browser(t).codeFor(byRequestURI("kjwt", uri))
	ex := assertionForm(k1.sign(t, claimsFor("kjwt", s.url+authserver.PathToken)),
		url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCB}})
	if r := s.exchange("kjwt", "", ex); r.Status != http.StatusOK {
		t.Fatalf("exchange: %d %v", r.Status, r.Body)
	}
	// Pushed with the other client's key: refused, nothing stored.
	before := f.dump()
	bad := assertionForm(k2.sign(t, claimsFor("kjwt", s.url+authserver.PathPAR)), url.Values{"response_type": {"code"},
		"client_id": {"kjwt"}, "redirect_uri": {webCB}})
	if r := s.push(bad, "", ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("push signed by another client's key: %d %v", r.Status, r.Body)
	}
	if f.dump() != before {
		t.Fatal("a refused push changed the store")
	}
}
