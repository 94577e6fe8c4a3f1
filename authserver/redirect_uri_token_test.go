package authserver_test

import (
	"net/url"
	"testing"
)

// RFC 6749 §4.1.3: when the authorization request named redirect_uri, the token request
// must name the same one; when it named none (a client with one registered URI), the
// token request may omit it, and if it names one, it must be that URI.
func TestTokenRequestRedirectURIFollowsTheAuthorizationRequest(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		b := s.browser(t)
		pkce := func(extra url.Values) url.Values {
			v := url.Values{"code_verifier": {verifier}}
			for k, vs := range extra {
				v[k] = vs
			}
			return v
		}

		named := spaQuery() // names redirect_uri
		code := b.codeFor(named)
		if r := s.exchange("spa", "", pkce(url.Values{"code": {code}})); r.Status != 400 || r.Body["error"] != "invalid_grant" {
			t.Fatalf("omitted redirect_uri after a request that named it: %d %v", r.Status, r.Body)
		}
		// The refused exchange did not use the code up.
		if r := s.exchange("spa", "", pkce(url.Values{"code": {code}, "redirect_uri": {spaCB}})); r.Status != 200 {
			t.Fatalf("exchange with the same redirect_uri: %d %v", r.Status, r.Body)
		}

		unnamed := spaQuery()
		unnamed.Del("redirect_uri")
		code = b.codeFor(unnamed)
		if r := s.exchange("spa", "", pkce(url.Values{"code": {code}, "redirect_uri": {spaCB + "/x"}})); r.Status != 400 || r.Body["error"] != "invalid_grant" {
			t.Fatalf("another redirect_uri after a request that named none: %d %v", r.Status, r.Body)
		}
		if r := s.exchange("spa", "", pkce(url.Values{"code": {code}})); r.Status != 200 {
			t.Fatalf("omitted redirect_uri after a request that named none: %d %v", r.Status, r.Body)
		}
		code = b.codeFor(unnamed)
		if r := s.exchange("spa", "", pkce(url.Values{"code": {code}, "redirect_uri": {spaCB}})); r.Status != 200 {
			t.Fatalf("the registered redirect_uri after a request that named none: %d %v", r.Status, r.Body)
		}
	})
}
