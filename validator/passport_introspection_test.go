package validator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/scopes"
)

// passportIntrospection is a Laravel application with DataHive's passport-introspection
// server package, answering as that package's IntrospectionController does: the caller
// authenticates with a Bearer token from its own client_credentials grant (route behind
// Passport's `client` middleware: 401 {"message": "Unauthenticated."} otherwise); an
// active answer has scope (space-joined), and client_id, sub and aud as PHP integers
// (intval: sub is 0 for a client token), token_type "access_token", exp/iat/nbf, jti,
// and the user's `id` when there is a sub; anything else is {"active": false}. No iss.
type passportIntrospection struct {
	*httptest.Server
	mu     sync.Mutex
	issued map[string]bool           // bearer tokens the token endpoint gave the guard
	tokens map[string]map[string]any // access token -> its active answer
	calls  int
}

func newPassportIntrospection(t *testing.T) *passportIntrospection {
	p := &passportIntrospection{issued: map[string]bool{}, tokens: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if r.PostForm.Get("grant_type") != "client_credentials" || id != "5" || secret != "resource-server-secret" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"Client authentication failed","message":"Client authentication failed"}`))
			return
		}
		p.mu.Lock()
		tok := fmt.Sprintf("rs-%d", len(p.issued)+1)
		p.issued[tok] = true
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":31536000,"access_token":%q}`, tok)
	})
	mux.HandleFunc("POST /oauth/introspect", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.calls++
		bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "application/json")
		if !p.issued[bearer] {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"Unauthenticated."}`))
			return
		}
		_ = r.ParseForm()
		ans, ok := p.tokens[r.PostForm.Get("token")]
		if !ok {
			ans = map[string]any{"active": false}
		}
		_ = json.NewEncoder(w).Encode(ans)
	})
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

// add makes token active with the answer the package gives for a Passport token of user
// (0 for a client token), client and scopes.
func (p *passportIntrospection) add(token string, user, client int, scope []string, jti string) {
	now := time.Now().Unix()
	ans := map[string]any{
		"active": true, "scope": strings.Join(scope, " "), "client_id": client,
		"token_type": "access_token", "exp": now + 3600, "iat": now, "nbf": now,
		"sub": user, "aud": client, "jti": jti,
	}
	if user != 0 {
		ans["id"] = fmt.Sprintf("user-%d-uuid", user)
	}
	p.mu.Lock()
	p.tokens[token] = ans
	p.mu.Unlock()
}

func (p *passportIntrospection) revoke(token string) {
	p.mu.Lock()
	delete(p.tokens, token)
	p.mu.Unlock()
}

// issue 9: a guard in introspect mode pointed at a Laravel /oauth/introspect served by
// DataHive's passport-introspection works: it gets its Bearer token by client_credentials
// (token_url, INTROSPECTION_TOKEN_URL in the package's docs), reads the integer ids, takes
// sub 0 for a client token, and refuses what the application says is inactive.
func TestIntrospectionAgainstLaravelPassportIntrospection(t *testing.T) {
	srv := newPassportIntrospection(t)
	srv.add("user-token", 7, 3, []string{"orders:read", "orders:write"}, "jti-user")
	srv.add("client-token", 0, 3, []string{"orders:read"}, "jti-client")
	in, err := NewIntrospector(IntrospectionOptions{
		URL: srv.URL + "/oauth/introspect",
		Credentials: CallerCredentials{ClientID: "5", ClientSecret: "resource-server-secret",
			TokenURL: srv.URL + "/oauth/token"},
		NegativeTTL: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGuard(GuardOptions{Verifier: in, Scopes: []scopes.Rule{{Mode: scopes.All, Scopes: []string{"orders:read"}}}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := g.Check(bearerRequest("Bearer user-token"))
	if err != nil {
		t.Fatalf("user token: %v", err)
	}
	if id.UserID != "7" || id.ClientID != "3" || id.ScopeString != "orders:read orders:write" || id.TokenID != "jti-user" {
		t.Fatalf("user identity %+v", id)
	}
	id, err = g.Check(bearerRequest("Bearer client-token"))
	if err != nil {
		t.Fatalf("client token: %v", err)
	}
	if id.IsUser() || id.UserID != "" || id.ClientID != "3" {
		t.Fatalf("client token taken for user %q (client %q)", id.UserID, id.ClientID)
	}
	clientOnly, _ := NewGuard(GuardOptions{Verifier: in, Subject: ClientSubject})
	if _, err := clientOnly.Check(bearerRequest("Bearer client-token")); err != nil {
		t.Fatalf("subject client, client token: %v", err)
	}
	_, err = g.Check(bearerRequest("Bearer unknown-token"))
	wantRefusal(t, err, InvalidToken, "")
	srv.revoke("user-token")
	if _, err := NewGuard(GuardOptions{Verifier: in}); err != nil {
		t.Fatal(err)
	}
	// A fresh introspector (no cache) sees the revocation at once.
	in2, _ := NewIntrospector(IntrospectionOptions{URL: srv.URL + "/oauth/introspect",
		Credentials: CallerCredentials{ClientID: "5", ClientSecret: "resource-server-secret", TokenURL: srv.URL + "/oauth/token"}})
	g2, _ := NewGuard(GuardOptions{Verifier: in2})
	_, err = g2.Check(bearerRequest("Bearer user-token"))
	wantRefusal(t, err, InvalidToken, "")
	// Wrong resource-server credentials: the token endpoint refuses, the guard answers 503
	// (it cannot check), never a pass.
	bad, _ := NewIntrospector(IntrospectionOptions{URL: srv.URL + "/oauth/introspect",
		Credentials: CallerCredentials{ClientID: "5", ClientSecret: "wrong", TokenURL: srv.URL + "/oauth/token"}})
	g3, _ := NewGuard(GuardOptions{Verifier: bad})
	_, err = g3.Check(bearerRequest("Bearer client-token"))
	wantRefusal(t, err, Unavailable, "")
}
