package authserver_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// hostileValues are inputs meant to break a parser or a query: SQL injection, NUL and
// other control bytes, invalid UTF-8, look-alike Unicode, and very long values.
var hostileValues = []string{
	"' OR '1'='1",
	"app' --",
	`app"; DROP TABLE oauth_clients; --`,
	"app\x00",
	"\x00",
	"app\r\nX-Injected: 1",
	"\xff\xfe\xfd",
	"ａｐｐ",    // fullwidth "app"
	"APP",    // case variant of an id
	"app ",   // trailing space
	"%00app", // stays encoded once decoded by the form parser? it is sent encoded twice
	strings.Repeat("A", 60<<10),
}

// Every token endpoint parameter, filled with each hostile value on both stores: the
// answer is an RFC 6749 §5.2 client error (never a 5xx, never a token) and the store is
// unchanged. A NUL or invalid UTF-8 byte must not reach PostgreSQL, which refuses it
// with an error the server would report as an outage.
func TestHostileInputsAtTheTokenEndpointAreClientErrorsAndChangeNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ok := f.post(url.Values{"grant_type": {"password"}, "username": {userEmail}, "password": {userPass}}, "app", pwSecret)
		if ok.Status != http.StatusOK {
			t.Fatalf("password grant: %d %v", ok.Status, ok.Body)
		}
		refresh := ok.Body["refresh_token"].(string)
		before := f.dump()
		base := map[string]url.Values{
			"client_credentials": {"grant_type": {"client_credentials"}, "client_id": {"svc"}, "client_secret": {ccSecret}, "scope": {"orders:read"}},
			"password":           {"grant_type": {"password"}, "client_id": {"app"}, "client_secret": {pwSecret}, "username": {userEmail}, "password": {userPass}},
			"refresh_token":      {"grant_type": {"refresh_token"}, "client_id": {"app"}, "client_secret": {pwSecret}, "refresh_token": {refresh}},
			"authorization_code": {"grant_type": {"authorization_code"}, "client_id": {"app"}, "client_secret": {pwSecret}, "code": {"x"}, "redirect_uri": {"https://client.example/cb"}, "code_verifier": {verifier}},
		}
		for grant, form := range base {
			params := []string{"grant_type"}
			for k := range form {
				if k != "grant_type" {
					params = append(params, k)
				}
			}
			for _, param := range params {
				for _, v := range hostileValues {
					bad := url.Values{}
					for k, vv := range form {
						bad[k] = vv
					}
					bad.Set(param, v)
					r := f.post(bad, "", "")
					if r.Status >= 500 || r.Status == http.StatusOK || r.Body["access_token"] != nil {
						t.Errorf("%s: %s=%.40q: status %d %v", grant, param, v, r.Status, r.Body)
						continue
					}
					if e, _ := r.Body["error"].(string); e == "" {
						t.Errorf("%s: %s=%.40q: no RFC 6749 error: %v", grant, param, v, r.Body)
					}
				}
			}
			// The same through HTTP Basic.
			for _, v := range hostileValues {
				bad := url.Values{}
				for k, vv := range form {
					if k != "client_id" && k != "client_secret" {
						bad[k] = vv
					}
				}
				for _, cred := range [][2]string{{v, pwSecret}, {"app", v}} {
					r := f.post(bad, cred[0], cred[1])
					if r.Status >= 500 || r.Status == http.StatusOK {
						t.Errorf("%s: Basic %.40q:%.40q: status %d %v", grant, cred[0], cred[1], r.Status, r.Body)
					}
				}
			}
		}
		if after := f.dump(); after != before {
			t.Error("hostile token requests changed the store")
		}
		// The genuine refresh token still works: none of the attempts spent or revoked it.
		r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "app", pwSecret)
		if r.Status != http.StatusOK {
			t.Fatalf("the refresh token no longer works after the hostile requests: %d %v", r.Status, r.Body)
		}
	})
}

// The introspection and revocation endpoints and the authorization endpoint take the same
// hostile values in their parameters without failing as an outage.
func TestHostileInputsAtIntrospectRevokeAndAuthorizeAreClientErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		before := f.dump()
		for _, v := range hostileValues {
			for _, target := range []struct {
				path string
				form url.Values
				id   string
			}{
				{authserver.PathIntrospect, url.Values{"token": {v}}, "rs"},
				{authserver.PathRevoke, url.Values{"token": {v}}, "app"},
			} {
				req, _ := http.NewRequest(http.MethodPost, f.ts.URL+target.path, strings.NewReader(target.form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				secret := pwSecret
				if target.id == "rs" {
					secret = rsSecret
				}
				req.SetBasicAuth(target.id, secret)
				if r := f.do(req); r.Status >= 500 {
					t.Errorf("%s token=%.40q: %d %v", target.path, v, r.Status, r.Body)
				}
				// The value as the caller's credentials.
				req, _ = http.NewRequest(http.MethodPost, f.ts.URL+target.path, strings.NewReader("token=x"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(url.QueryEscape(v), "secret-0123456789")
				if r := f.do(req); r.Status != http.StatusUnauthorized {
					t.Errorf("%s client id %.40q: %d %v, want 401", target.path, v, r.Status, r.Body)
				}
				if strings.ContainsAny(v, "\x00\r\n") {
					continue // not sendable in a header
				}
				req, _ = http.NewRequest(http.MethodPost, f.ts.URL+target.path, strings.NewReader("token=x"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Bearer "+v)
				if r := f.do(req); r.Status >= 500 {
					t.Errorf("%s Bearer %.40q: %d %v", target.path, v, r.Status, r.Body)
				}
			}
			b := s.browser(t)
			for _, param := range []string{"client_id", "redirect_uri", "scope", "state", "response_type", "code_challenge"} {
				q := webQuery()
				q.Set(param, v)
				if p := b.authorize(q); p.status >= 500 {
					t.Errorf("authorize %s=%.40q: %d", param, v, p.status)
				}
			}
			// Login form with hostile username (the form's CSRF token is valid).
			form := b.get(authserver.PathLogin)
			p := b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {v}, "password": {userPass}}, nil)
			if p.status >= 500 || b.sessionCookie() != "" {
				t.Errorf("login username=%.40q: %d, session %q", v, p.status, b.sessionCookie())
			}
		}
		if f.dump() != before {
			t.Error("hostile requests changed the store")
		}
	})
}

// countingReader is an endless body that counts what the server reads of it.
type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	c.n += len(p)
	if c.n > 10<<20 {
		return len(p), io.EOF
	}
	return len(p), nil
}

// A 10 MB form is refused after reading a small bounded prefix, at every endpoint that
// reads a form, so a caller cannot make the server buffer or parse megabytes.
func TestHugeFormBodiesAreRefusedCheaply(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		for _, path := range []string{authserver.PathToken, authserver.PathRevoke, authserver.PathIntrospect, authserver.PathLogin, authserver.PathLogout, authserver.PathAuthorize} {
			body := &countingReader{}
			req := httptest.NewRequest(http.MethodPost, "http://auth.test"+path, io.NopCloser(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if path == authserver.PathIntrospect {
				req.SetBasicAuth("rs", rsSecret)
			}
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, req)
			if rec.Code < 400 || rec.Code >= 500 {
				t.Errorf("%s: 10 MB form answered %d", path, rec.Code)
			}
			if body.n > 1<<20 {
				t.Errorf("%s: read %d bytes of a 10 MB form, want a small bound", path, body.n)
			}
		}
	})
}
