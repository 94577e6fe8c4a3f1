package authserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

// rfc6749Errors are the error codes the token, introspection and revocation endpoints may
// answer (RFC 6749 §5.2, RFC 7009 §2.2.1), plus temporarily_unavailable for an outage or a
// rate limit.
var rfc6749Errors = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
	"unsupported_grant_type": true, "invalid_scope": true, "unsupported_token_type": true, "temporarily_unavailable": true,
}

// FuzzTokenIntrospectRevokeForms sends any form body, with any Basic credentials or none,
// to the token, introspection and revocation endpoints of a server on SQLite: never a
// panic, never a 5xx but 503 with Retry-After, and every refusal an RFC 6749 JSON error.
func FuzzTokenIntrospectRevokeForms(f *testing.F) {
	st, err := sqlite.Open(context.Background(), testdb.SQLitePath(f))
	if err != nil {
		f.Fatal(err)
	}
	// No rate limit: the fuzzer sends thousands of requests a second from one address.
	fx := newFixture(f, st, func(c *authserver.Config) { c.TokenRateLimit = &authserver.TokenRateLimit{} })
	paths := []string{authserver.PathToken, authserver.PathIntrospect, authserver.PathRevoke}
	for _, seed := range []struct {
		body, id, secret string
	}{
		{"grant_type=client_credentials&scope=orders%3Aread", "svc", ccSecret},
		{"grant_type=password&username=" + userEmail + "&password=" + userPass, "app", pwSecret},
		{"grant_type=refresh_token&refresh_token=abc", "app", pwSecret},
		{"grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fa%2Fcb&code_verifier=" + strings.Repeat("v", 43), "app", pwSecret},
		{"grant_type=client_credentials&client_id=svc&client_secret=" + ccSecret, "", ""},
		{"token=abc&token_type_hint=access_token", "rs", rsSecret},
		{"token=abc&token=def", "rs", rsSecret},
		{"grant_type=%ff%fe&scope=" + strings.Repeat("a ", 100), "svc", ccSecret},
		{"grant_type=client_credentials&scope=*", "svc", ccSecret},
		{"%zz=1&&=&grant_type", "x", ""},
	} {
		for i := range paths {
			f.Add(uint8(i), seed.body, seed.id, seed.secret)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body, id, secret string) {
		req := httptest.NewRequest(http.MethodPost, "http://auth.test"+paths[int(which)%len(paths)], strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if id != "" || secret != "" {
			req.SetBasicAuth(id, secret)
		}
		rec := httptest.NewRecorder()
		fx.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 && (rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "") {
			t.Fatalf("%s %q: %d %s", req.URL.Path, body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			return
		}
		var answer struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || !rfc6749Errors[answer.Error] {
			t.Fatalf("%s %q: %d with %q", req.URL.Path, body, rec.Code, rec.Body)
		}
	})
}
