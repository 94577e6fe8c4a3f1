package authserver_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// RFC 6749 §3.1 and §3.2: request parameters must not be repeated. Every parameter of
// every grant, and of introspection and revocation, sent twice is invalid_request, and
// nothing changes, even when both copies are equal and the request would otherwise pass.
func TestEveryRepeatedParameterIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		grants := map[string]url.Values{
			"client_credentials": {"grant_type": {"client_credentials"}, "scope": {"orders:read"}, "client_id": {"svc"}, "client_secret": {ccSecret}},
			"password": {"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}, "scope": {"orders:read"},
				"client_id": {"app"}, "client_secret": {pwSecret}},
			"refresh_token": {"grant_type": {"refresh_token"}, "refresh_token": {"some-refresh-token"}, "client_id": {"app"}, "client_secret": {pwSecret}},
			"authorization_code": {"grant_type": {"authorization_code"}, "code": {"some-code"}, "redirect_uri": {"https://x.example/cb"},
				"code_verifier": {strings.Repeat("v", 43)}, "client_id": {"app"}, "client_secret": {pwSecret}},
		}
		before := f.dump()
		for grant, form := range grants {
			for name := range form {
				twice := url.Values{}
				for k, v := range form {
					twice[k] = append([]string(nil), v...)
				}
				twice[name] = append(twice[name], twice[name][0])
				r := f.post(twice, "", "")
				if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_request" {
					t.Errorf("%s with %s twice: %d %v", grant, name, r.Status, r.Body)
				}
			}
		}
		push := url.Values{"response_type": {"code"}, "client_id": {"app"}, "client_secret": {pwSecret}, "redirect_uri": {"https://x.example/cb"},
			"scope": {"orders:read"}, "state": {"s"}, "code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
		for name := range push {
			twice := url.Values{}
			for k, v := range push {
				twice[k] = append([]string(nil), v...)
			}
			twice[name] = append(twice[name], twice[name][0])
			req, _ := http.NewRequest(http.MethodPost, f.ts.URL+authserver.PathPAR, strings.NewReader(twice.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if r := f.do(req); r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_request" {
				t.Errorf("%s with %s twice: %d %v", authserver.PathPAR, name, r.Status, r.Body)
			}
		}
		for _, path := range []string{authserver.PathIntrospect, authserver.PathRevoke} {
			form := url.Values{"token": {"t1", "t1"}}
			req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("rs", rsSecret)
			if r := f.do(req); r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_request" {
				t.Errorf("%s with token twice: %d %v", path, r.Status, r.Body)
			}
		}
		if f.dump() != before {
			t.Fatal("a request with a repeated parameter changed the store")
		}
	})
}

// 10,000 scopes in one request: a prompt invalid_scope, never a 5xx, nothing written.
func TestTenThousandScopesInOneRequest(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		names := make([]string, 10000)
		for i := range names {
			names[i] = fmt.Sprintf("s%d", i)
		}
		many := strings.Join(names, " ")
		before := f.dump()
		start := time.Now()
		r := f.post(url.Values{"grant_type": {"client_credentials"}, "scope": {many}}, "svc", ccSecret)
		if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_scope" {
			t.Fatalf("10,000 unknown scopes: %d %v", r.Status, r.Body)
		}
		if f.dump() != before {
			t.Fatal("the refused request changed the store")
		}
		// The same defined scope 10,000 times is still one scope.
		same := strings.TrimSpace(strings.Repeat("orders:read ", 10000))
		if r := f.post(url.Values{"grant_type": {"client_credentials"}, "scope": {same}}, "svc", ccSecret); r.Status == http.StatusOK {
			_, cl := f.claims(r.Body["access_token"].(string))
			if cl["scope"] != "orders:read" {
				t.Fatalf("one scope repeated 10,000 times granted %q", cl["scope"])
			}
		} else if r.Status >= 500 {
			t.Fatalf("one scope repeated 10,000 times: %d %v", r.Status, r.Body)
		}
		q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "scope": {many}, "state": {"s"}}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
			Get(f.ts.URL + authserver.PathAuthorize + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("authorize with 10,000 scopes: %d", resp.StatusCode)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("10,000 scopes took %s", d)
		}
	})
}
