package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// serveRaw runs one request whose headers are set as given, keys untouched (as Go's
// server leaves a name it cannot canonicalise, and as another handler may set one), and
// returns what the upstream saw, nil when it was not reached.
func serveRaw(t *testing.T, g *Guard, token string, raw http.Header) http.Header {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://api.test/orders", nil)
	for k, v := range raw {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req = req.WithContext(context.WithValue(req.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	var seen http.Header
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen = r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	if err := g.ServeHTTP(httptest.NewRecorder(), req, next); err != nil {
		t.Fatal(err)
	}
	return seen
}

// cgiName is the variable CGI and FastCGI (Caddy's php_fastcgi) give a header: what a
// PHP upstream reads as $_SERVER[...].
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

// A caller cannot get its own identity header past the guard in any spelling an
// upstream might read as the real one: other case, several copies, or '_' or '.' for '-'
// (which FastCGI and PHP fold into the same HTTP_X_OAUTH_USER_ID variable as the real one).
// With a client token the guard sets no user header, so a surviving spoof would be the
// only X-OAuth-User-Id the upstream sees.
func TestGuardStripsSpoofedIdentityHeadersInEverySpelling(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer, Headers: map[string]string{"X-User-Email": "{oauth.claim.email}"}}
	provisionGuard(t, g)
	userTok := f.sign(claims(map[string]any{"email": "ada@example.com"}))
	clientTok := f.sign(claims(map[string]any{"sub": "app", "jti": "tok-c"}))

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
			textproto.CanonicalMIMEHeaderKey(string(under)), // what Go's server makes of X_OAuth_User_Id
			string(under),
			strings.ToLower(string(under)),
			string(dots), // PHP folds dots to underscores too
			textproto.CanonicalMIMEHeaderKey(string(dots)),
		} {
			spoofs[variant] = append(spoofs[variant], "admin", "root")
		}
	}
	for name, tok := range map[string]string{"user token": userTok, "client token": clientTok} {
		t.Run(name, func(t *testing.T) {
			seen := serveRaw(t, g, tok, spoofs)
			if seen == nil {
				t.Fatal("the request did not reach the upstream")
			}
			cgi := map[string][]string{}
			for k, v := range seen {
				cgi[cgiName(k)] = append(cgi[cgiName(k)], v...)
			}
			for _, name := range protected {
				for _, v := range cgi[cgiName(name)] {
					if v == "admin" || v == "root" {
						t.Errorf("spoofed %s reached the upstream", cgiName(name))
					}
				}
				if vals := cgi[cgiName(name)]; len(vals) > 1 {
					t.Errorf("%s has %d values %q, want at most the guard's one", cgiName(name), len(vals), vals)
				}
			}
			if name == "user token" && seen.Get("X-Oauth-User-Id") != "user-7" {
				t.Errorf("X-OAuth-User-Id %q, want user-7", seen.Get("X-Oauth-User-Id"))
			}
		})
	}
}

// Headers that only resemble the identity headers pass untouched: stripping is by name,
// not by prefix.
func TestGuardKeepsUnrelatedHeaders(t *testing.T) {
	f := newGuardFixture(t)
	g := &Guard{JWKS: f.jwks, Issuer: guardIssuer}
	provisionGuard(t, g)
	seen := serveRaw(t, g, f.sign(claims(nil)), http.Header{
		"X-Oauth-User-Idx": {"keep"}, "X-Oauth-User": {"keep"}, "Accept": {"text/plain"},
	})
	for _, k := range []string{"X-Oauth-User-Idx", "X-Oauth-User", "Accept"} {
		if seen.Get(k) == "" {
			t.Errorf("header %s was removed", k)
		}
	}
}
