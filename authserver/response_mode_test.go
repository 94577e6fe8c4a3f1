package authserver_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// Every response mode the metadata advertises is honoured: query (code's default),
// fragment (for code too), form_post (an auto-submitting form to the redirect URI);
// a token is never put in a query, and an unknown mode is refused at the redirect URI.
func TestAuthorizationResponseModesAreHonoured(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, func(c *authserver.Config) { c.ImplicitGrant = true })
		b := s.browser(t)
		b.login("")

		// approve answers the consent page if one is shown (the first time only: the
		// consent is remembered).
		approve := func(q url.Values) page {
			p := b.authorize(q)
			if p.status == http.StatusOK && strings.Contains(p.body, `name="_csrf"`) {
				p = b.decide(q, p, "approve")
			}
			return p
		}
		md := b.get(authserver.PathMetadata)
		if !strings.Contains(md.body, `"response_modes_supported":["query","fragment","form_post"]`) {
			t.Errorf("metadata %s", md.body)
		}

		// fragment for a code: nothing in the query.
		q := webQuery()
		q.Set("response_mode", "fragment")
		loc := approve(q).location(t)
		frag, _ := url.ParseQuery(loc.Fragment)
		if loc.RawQuery != "" || frag.Get("code") == "" || frag.Get("state") != "st-web" || frag.Get("iss") != s.url {
			t.Fatalf("code in fragment: %s", loc)
		}

		// form_post: a page that posts code, state and iss to the redirect URI, whose CSP
		// lets the form go there only.
		q = webQuery()
		q.Set("response_mode", "form_post")
		p := approve(q)
		if p.status != http.StatusOK || p.header.Get("Location") != "" {
			t.Fatalf("form_post: %d, Location %q", p.status, p.header.Get("Location"))
		}
		if !strings.Contains(p.body, `<form method="post" action="https://client.example/cb">`) {
			t.Fatalf("form_post page: %s", p.body)
		}
		fields := map[string]string{}
		for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(p.body, -1) {
			fields[m[1]] = html.UnescapeString(m[2])
		}
		if len(fields["code"]) != 43 || fields["state"] != "st-web" || fields["iss"] != s.url {
			t.Fatalf("form_post fields %v", fields)
		}
		csp := p.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "form-action https://client.example") || !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("form_post CSP %q", csp)
		}
		if r := s.exchange("web", webSecret, url.Values{"code": {fields["code"]}, "redirect_uri": {webCB}}); r.Status != http.StatusOK {
			t.Fatalf("exchanging the form_post code: %d %v", r.Status, r.Body)
		}

		// A token in the query is refused, in the fragment, before any consent.
		q = webQuery()
		q.Set("response_type", "token")
		q.Set("response_mode", "query")
		loc = b.authorize(q).location(t)
		frag, _ = url.ParseQuery(loc.Fragment)
		if loc.RawQuery != "" || frag.Get("error") != "invalid_request" || frag.Get("access_token") != "" {
			t.Fatalf("token with response_mode=query: %s", loc)
		}

		// An unknown mode: invalid_request at the redirect URI, no code.
		q = webQuery()
		q.Set("response_mode", "web_message")
		loc = b.authorize(q).location(t)
		if loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" || loc.Query().Get("state") != "st-web" {
			t.Fatalf("unknown mode: %s", loc)
		}
	})
}
