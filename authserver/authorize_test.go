package authserver_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

func TestAuthorizationCodeFlowWithPKCEIssuesTokensToPublicClient(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		q := spaQuery()
		// Not signed in: off to the login page, and back to the same request after.
		p := b.authorize(q)
		loc := p.location(t)
		if loc.Path != authserver.PathLogin {
			t.Fatalf("not signed in: Location %s", loc)
		}
		back := b.login(loc.Query().Get("return_to")).location(t)
		if back.Path != authserver.PathAuthorize || back.Query().Get("code_challenge") != challenge {
			t.Fatalf("after login: Location %s", back)
		}
		consent := b.get(back.RequestURI())
		if consent.status != http.StatusOK || !strings.Contains(consent.body, "Single Page") ||
			!strings.Contains(consent.body, "Read orders") || !strings.Contains(consent.body, "Write orders") {
			t.Fatalf("consent page: %d %.800s", consent.status, consent.body)
		}
		p = b.decide(q, consent, "approve")
		loc = p.location(t)
		if p.status != http.StatusSeeOther || loc.Scheme+"://"+loc.Host+loc.Path != spaCB ||
			loc.Query().Get("state") != "st-123" || loc.Query().Get("iss") != s.url {
			t.Fatalf("approve: %d %s", p.status, loc)
		}
		code := loc.Query().Get("code")
		if len(code) != 43 {
			t.Fatalf("code %q is not 256 bits", code)
		}
		if strings.Contains(f.dump(), code) {
			t.Error("the code itself is stored")
		}
		r := s.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaCB}, "code_verifier": {verifier}})
		if r.Status != http.StatusOK || r.Body["refresh_token"] == nil || r.Body["scope"] != "orders:read orders:write" {
			t.Fatalf("exchange: %d %v", r.Status, r.Body)
		}
		_, cl := f.claims(r.Body["access_token"].(string))
		if cl["sub"] != f.userID || cl["client_id"] != "spa" || cl["iss"] != s.url {
			t.Errorf("claims %v", cl)
		}
	})
}

func TestConfidentialClientMayOmitPKCE(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		code := s.browser(t).codeFor(webQuery())
		r := s.exchange("web", webSecret, url.Values{"code": {code}, "redirect_uri": {webCB}})
		if r.Status != http.StatusOK {
			t.Fatalf("exchange: %d %v", r.Status, r.Body)
		}
	})
}

func TestDenyRedirectsWithAccessDeniedAndStateAndStoresNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		consent := b.authorize(webQuery())
		before := f.dump()
		loc := b.decide(webQuery(), consent, "deny").location(t)
		if loc.Scheme+"://"+loc.Host+loc.Path != webCB || loc.Query().Get("error") != "access_denied" ||
			loc.Query().Get("state") != "st-web" || loc.Query().Get("code") != "" {
			t.Fatalf("deny: %s", loc)
		}
		if f.dump() != before {
			t.Error("denying changed the store")
		}
	})
}

// RFC 9700 §4.1: the redirect URI must match a registered one exactly; anything else is
// refused on a page of our own, never by a redirect, and changes nothing.
func TestRedirectURIVariationsAreRefusedWithoutRedirecting(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		before := f.dump()
		for name, uri := range map[string]string{
			"suffix":        webCB + "evil",
			"subdomain":     "https://evil.client.example/cb",
			"case":          "https://Client.example/cb",
			"path case":     "https://client.example/CB",
			"fragment":      webCB + "#x",
			"extra path":    webCB + "/../evil",
			"sub path":      webCB + "/more",
			"query added":   webCB + "?next=https://evil.example",
			"query changed": "https://client.example/cb2?tenant=8",
			"userinfo":      "https://client.example@evil.example/cb",
			"userinfo2":     "https://evil@client.example/cb",
			"scheme":        "http://client.example/cb",
			"port":          "https://client.example:8443/cb",
			"trailing":      webCB + "/",
			"encoded":       "https://client.example/%63b",
			"other host":    "https://evil.example/cb",
		} {
			q := webQuery()
			q.Set("redirect_uri", uri)
			p := b.authorize(q)
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
				t.Errorf("%s (%s): status %d, Location %q", name, uri, p.status, p.header.Get("Location"))
			}
		}
		// With two registered URIs, omitting redirect_uri is refused too.
		q := webQuery()
		q.Del("redirect_uri")
		if p := b.authorize(q); p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
			t.Errorf("missing redirect_uri: %d %q", p.status, p.header.Get("Location"))
		}
		// A repeated redirect_uri or client_id is refused without redirecting.
		rep := webQuery()
		rep["redirect_uri"] = []string{webCB, "https://evil.example/cb"}
		if p := b.authorize(rep); p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
			t.Errorf("repeated redirect_uri: %d %q", p.status, p.header.Get("Location"))
		}
		if f.dump() != before {
			t.Error("refused requests changed the store")
		}
		// A registered URI with a query is accepted, and its query kept.
		q = webQuery()
		q.Set("redirect_uri", webCB2)
		code := b.codeFor(q)
		if code == "" {
			t.Fatal("no code for the second registered URI")
		}
	})
}

func TestUnknownClientGetsAnErrorPageNeverARedirect(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		for _, q := range []url.Values{
			{"response_type": {"code"}, "client_id": {"nope"}, "redirect_uri": {"https://evil.example/cb"}},
			{"response_type": {"code"}, "redirect_uri": {"https://evil.example/cb"}},
		} {
			p := b.authorize(q)
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
				t.Errorf("%v: status %d Location %q", q, p.status, p.header.Get("Location"))
			}
		}
	})
}

// Once the redirect URI is verified, errors go to it with the state (RFC 6749 §4.1.2.1),
// and only to it: the server never becomes an open redirector.
func TestErrorsAfterRedirectURICheckGoToTheClientWithState(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		before := f.dump()
		for name, tc := range map[string]struct {
			set  map[string]string
			want string
		}{
			"unknown response_type": {map[string]string{"response_type": "id_token"}, "unsupported_response_type"},
			"implicit not enabled":  {map[string]string{"response_type": "token"}, "unsupported_response_type"},
			"undefined scope":       {map[string]string{"scope": "orders:read admin"}, "invalid_scope"},
			"wildcard scope":        {map[string]string{"scope": "*"}, "invalid_scope"},
			"plain PKCE":            {map[string]string{"code_challenge": verifier, "code_challenge_method": "plain"}, "invalid_request"},
			"PKCE without method":   {map[string]string{"code_challenge": challenge}, "invalid_request"},
			"malformed challenge":   {map[string]string{"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"},
			"missing response_type": {map[string]string{"response_type": ""}, "invalid_request"},
		} {
			q := webQuery()
			for k, v := range tc.set {
				if v == "" {
					q.Del(k)
				} else {
					q.Set(k, v)
				}
			}
			p := b.authorize(q)
			loc := p.location(t)
			params := loc.Query()
			if tc.set["response_type"] == "token" {
				params, _ = url.ParseQuery(loc.Fragment)
			}
			if loc.Scheme+"://"+loc.Host+loc.Path != webCB || params.Get("error") != tc.want || params.Get("state") != "st-web" {
				t.Errorf("%s: Location %s", name, loc)
			}
		}
		if f.dump() != before {
			t.Error("refused requests changed the store")
		}
	})
}

func TestPublicClientWithoutPKCEIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		before := f.dump()
		q := spaQuery()
		q.Del("code_challenge")
		q.Del("code_challenge_method")
		loc := b.authorize(q).location(t)
		if loc.Query().Get("error") != "invalid_request" || !strings.HasPrefix(loc.String(), spaCB+"?") {
			t.Fatalf("Location %s", loc)
		}
		if f.dump() != before {
			t.Error("the refused request changed the store")
		}
	})
}

func TestFirstPartyClientSkipsConsent(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.login("")
		q := webQuery()
		q.Set("client_id", "own")
		p := b.authorize(q)
		if p.status != http.StatusFound || p.location(t).Query().Get("code") == "" {
			t.Fatalf("first-party: %d %s", p.status, p.header.Get("Location"))
		}
	})
}

func TestApprovedClientSkipsConsentForTheSameOrFewerScopesOnly(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		b.codeFor(spaQuery()) // approves orders:read orders:write
		fewer := spaQuery()
		fewer.Set("scope", "orders:read")
		for _, q := range []url.Values{spaQuery(), fewer} {
			p := b.authorize(q)
			if p.status != http.StatusFound || p.location(t).Query().Get("code") == "" {
				t.Errorf("scope %q: consent shown again (%d)", q.Get("scope"), p.status)
			}
		}
		// Another user of the same browser-less world, or another client, asks again.
		q := webQuery()
		if p := b.authorize(q); p.status != http.StatusOK {
			t.Errorf("another client skipped consent: %d", p.status)
		}
	})
}

func TestApprovingWithoutTheSessionsCSRFTokenIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		victim := s.browser(t)
		victim.login("")
		consent := victim.authorize(webQuery())
		attacker := s.browser(t)
		attacker.login("")
		attackerToken := attacker.authorize(webQuery()).csrf(t)
		before := f.dump()
		for name, tc := range map[string]struct {
			token  string
			header map[string]string
		}{
			"missing token":             {"", nil},
			"wrong token":               {tamper(consent.csrf(t)), nil},
			"another session token":     {attackerToken, nil},
			"right token, other origin": {consent.csrf(t), map[string]string{"Origin": "https://evil.example"}},
		} {
			form := webQuery()
			form.Set("decision", "approve")
			if tc.token != "" {
				form.Set("_csrf", tc.token)
			}
			p := victim.post(authserver.PathAuthorize, form, tc.header)
			if p.status != http.StatusForbidden || p.header.Get("Location") != "" {
				t.Errorf("%s: status %d Location %q", name, p.status, p.header.Get("Location"))
			}
		}
		if f.dump() != before {
			t.Error("refused approvals changed the store")
		}
	})
}

func TestImplicitGrantPutsTheTokenInTheFragmentOnlyWhenEnabled(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, func(c *authserver.Config) { c.ImplicitGrant = true })
		b := s.browser(t)
		b.login("")
		q := impQuery()
		p := b.decide(q, b.authorize(q), "approve")
		loc := p.location(t)
		frag, _ := url.ParseQuery(loc.Fragment)
		if loc.RawQuery != "" || frag.Get("access_token") == "" || frag.Get("token_type") != "Bearer" ||
			frag.Get("state") != "st-imp" || frag.Get("refresh_token") != "" || frag.Get("expires_in") != "3600" {
			t.Fatalf("implicit: %s", loc)
		}
		_, cl := f.claims(frag.Get("access_token"))
		if cl["sub"] != f.userID || cl["client_id"] != "imp" {
			t.Errorf("claims %v", cl)
		}
	})
}

// impQuery is an implicit grant request of the public client that has that grant.
func impQuery() url.Values {
	return url.Values{
		"response_type": {"token"}, "client_id": {"imp"}, "redirect_uri": {impCB},
		"scope": {"orders:read"}, "state": {"st-imp"},
	}
}

// The implicit grant is a grant a client has, not a side door of the code flow: with
// implicit_grant on, a client with only authorization_code (confidential or public) gets
// unauthorized_client for response_type=token, even after its code-flow consent was
// given; and a client with only the implicit grant cannot ask for a code.
func TestImplicitGrantIsAGrantOfItsOwn(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, func(c *authserver.Config) { c.ImplicitGrant = true })
		b := s.browser(t)
		b.login("")
		b.codeFor(webQuery()) // consent for the code flow, remembered
		for name, q := range map[string]url.Values{"confidential code client": webQuery(), "public code client": spaQuery()} {
			q.Set("response_type", "token")
			loc := b.authorize(q).location(t)
			frag, _ := url.ParseQuery(loc.Fragment)
			if frag.Get("error") != "unauthorized_client" || frag.Get("access_token") != "" {
				t.Errorf("%s: %s", name, loc)
			}
		}
		q := impQuery()
		q.Set("response_type", "code")
		if loc := b.authorize(q).location(t); loc.Query().Get("error") != "unauthorized_client" || loc.Query().Get("code") != "" {
			t.Errorf("implicit-only client asking for a code: %s", loc)
		}
	})
}

// An implicit request shows the consent screen every time: approving it remembers
// nothing, so a later request asks again rather than handing out a token silently.
func TestImplicitGrantAsksForConsentEveryTime(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, func(c *authserver.Config) { c.ImplicitGrant = true })
		b := s.browser(t)
		b.login("")
		for i := 0; i < 2; i++ {
			p := b.authorize(impQuery())
			if p.status != http.StatusOK || !strings.Contains(p.body, `name="_csrf"`) {
				t.Fatalf("request %d: no consent screen: %d %s", i+1, p.status, p.header.Get("Location"))
			}
			if loc := b.decide(impQuery(), p, "approve").location(t); !strings.Contains(loc.Fragment, "access_token=") {
				t.Fatalf("request %d: approve gave %s", i+1, loc)
			}
		}
	})
}

func TestMetadataListsImplicitOnlyWhenEnabled(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, func(c *authserver.Config) { c.ImplicitGrant = true })
		r := s.browser(t).get(authserver.PathMetadata)
		if !strings.Contains(r.body, `"response_types_supported":["code","token"]`) || !strings.Contains(r.body, `"implicit"`) {
			t.Errorf("metadata %s", r.body)
		}
	})
}

func TestAuthorizationCodeReuseFailsAndRevokesEveryTokenIssuedFromIt(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		var mu sync.Mutex
		var revokedEvents []map[string]any
		s := browserSite(t, f, func(c *authserver.Config) {
			c.OnEvent = func(_ context.Context, name string, data map[string]any) {
				if name == authserver.EventTokenRevoked {
					mu.Lock()
					revokedEvents = append(revokedEvents, data)
					mu.Unlock()
				}
			}
		})
		code := s.browser(t).codeFor(spaQuery())
		ex := url.Values{"code": {code}, "redirect_uri": {spaCB}, "code_verifier": {verifier}}
		first := s.exchange("spa", "", ex)
		if first.Status != http.StatusOK {
			t.Fatalf("first exchange: %d %v", first.Status, first.Body)
		}
		// The client rotates its refresh token once; that one must die too.
		rot := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.Body["refresh_token"].(string)}, "client_id": {"spa"}}, "", "")
		if rot.Status != http.StatusOK {
			t.Fatalf("refresh: %d %v", rot.Status, rot.Body)
		}
		second := s.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaCB}, "code_verifier": {verifier}})
		if second.Status != http.StatusBadRequest || second.Body["error"] != "invalid_grant" {
			t.Fatalf("second exchange: %d %v", second.Status, second.Body)
		}
		for _, tok := range []string{first.Body["access_token"].(string), rot.Body["access_token"].(string)} {
			_, cl := f.claims(tok)
			rec, err := f.st.GetAccessToken(context.Background(), cl["jti"].(string))
			if err != nil || !rec.Revoked {
				t.Errorf("access token %s not revoked: %+v %v", cl["jti"], rec, err)
			}
		}
		again := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rot.Body["refresh_token"].(string)}, "client_id": {"spa"}}, "", "")
		if again.Status != http.StatusBadRequest {
			t.Errorf("the rotated refresh token still works: %d", again.Status)
		}
		_, firstClaims := f.claims(first.Body["access_token"].(string))
		mu.Lock()
		defer mu.Unlock()
		if len(revokedEvents) != 1 || revokedEvents[0]["token_id"] != firstClaims["jti"] || revokedEvents[0]["client_id"] != "spa" || revokedEvents[0]["user_id"] != f.userID {
			t.Errorf("revocation events %v, want one for token %v", revokedEvents, firstClaims["jti"])
		}
	})
}

// RFC 9700 §4.5: a code stolen from one client is refused to another, and stays usable
// by the client it was issued to.
func TestAuthorizationCodeInjectionAcrossClientsIsRefusedAndChangesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		code := s.browser(t).codeFor(webQuery())
		before := f.dump()
		r := s.exchange("web2", webSecret, url.Values{"code": {code}, "redirect_uri": {webCB}})
		if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" {
			t.Fatalf("other client: %d %v", r.Status, r.Body)
		}
		if f.dump() != before {
			t.Fatal("the refused exchange changed the store")
		}
		if r := s.exchange("web", webSecret, url.Values{"code": {code}, "redirect_uri": {webCB}}); r.Status != http.StatusOK {
			t.Fatalf("the rightful client: %d %v", r.Status, r.Body)
		}
	})
}

// RFC 9700 §4.8 and RFC 7636: the verifier must be there, well-formed and right, and
// must not appear without a challenge. Each refusal leaves the code usable.
func TestPKCEDowngradeAndWrongVerifiersAreRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		withChallenge := webQuery()
		withChallenge.Set("code_challenge", challenge)
		withChallenge.Set("code_challenge_method", "S256")
		code := b.codeFor(withChallenge)
		before := f.dump()
		for name, v := range map[string]string{
			"missing verifier":   "",
			"wrong verifier":     "eBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
			"challenge as plain": challenge,
			"too short":          "abc",
		} {
			ex := url.Values{"code": {code}, "redirect_uri": {webCB}}
			if v != "" {
				ex.Set("code_verifier", v)
			}
			if r := s.exchange("web", webSecret, ex); r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" {
				t.Errorf("%s: %d %v", name, r.Status, r.Body)
			}
		}
		if f.dump() != before {
			t.Fatal("refused exchanges changed the store")
		}
		// A code issued without a challenge refuses a verifier (downgrade attempt).
		plainCode := b.codeFor(webQuery())
		before2 := f.dump()
		if r := s.exchange("web", webSecret, url.Values{"code": {plainCode}, "redirect_uri": {webCB}, "code_verifier": {verifier}}); r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" {
			t.Errorf("verifier without challenge: %d %v", r.Status, r.Body)
		}
		if f.dump() != before2 {
			t.Fatal("refused exchanges changed the store")
		}
		if r := s.exchange("web", webSecret, url.Values{"code": {code}, "redirect_uri": {webCB}, "code_verifier": {verifier}}); r.Status != http.StatusOK {
			t.Fatalf("the right verifier after refusals: %d %v", r.Status, r.Body)
		}
	})
}

func TestAuthorizationCodeIsBoundToItsRedirectURI(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		code := s.browser(t).codeFor(webQuery())
		before := f.dump()
		for _, uri := range []string{webCB2, "https://evil.example/cb", ""} {
			if r := s.exchange("web", webSecret, url.Values{"code": {code}, "redirect_uri": {uri}}); r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant" {
				t.Errorf("redirect_uri %q: %d %v", uri, r.Status, r.Body)
			}
		}
		if r := s.exchange("web", webSecret, url.Values{"code": {"not-a-code"}, "redirect_uri": {webCB}}); r.Body["error"] != "invalid_grant" {
			t.Errorf("unknown code: %v", r.Body)
		}
		if f.dump() != before {
			t.Fatal("refused exchanges changed the store")
		}
	})
}

// Two exchanges of one code racing: exactly one gets tokens, and since the code was
// used twice, those tokens are revoked too.
func TestConcurrentExchangesOfOneCodeIssueOnceAndRevokeIt(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		code := s.browser(t).codeFor(webQuery())
		const n = 6
		replies := make([]tokenReply, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				replies[i] = s.exchange("web", webSecret, url.Values{"code": {code}, "redirect_uri": {webCB}})
			}()
		}
		close(start)
		wg.Wait()
		var winner *tokenReply
		for i, r := range replies {
			switch {
			case r.Status == http.StatusOK && winner != nil:
				t.Fatal("two exchanges of one code succeeded")
			case r.Status == http.StatusOK:
				winner = &replies[i]
			case r.Body["error"] != "invalid_grant":
				t.Fatalf("a losing exchange: %d %v", r.Status, r.Body)
			}
		}
		if winner == nil {
			t.Fatal("no exchange succeeded")
		}
		_, cl := f.claims(winner.Body["access_token"].(string))
		rec, err := f.st.GetAccessToken(context.Background(), cl["jti"].(string))
		if err != nil || !rec.Revoked {
			t.Errorf("the winner's token survived the code's reuse: %+v %v", rec, err)
		}
	})
}
