package authserver_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/passwords"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

const (
	staffEmail = "boss@staff.example"
	staffPass  = "staff password 123"
	staffCB    = "https://staff.example/cb"
)

// staffSite is a browser site with a second user provider, "staff": the built-in users
// of a store of its own, and clients bound to it or to a provider nobody configured.
func staffSite(t *testing.T, f *fixture) (*site, string) {
	t.Helper()
	ctx := context.Background()
	staffStore, err := sqlite.Open(ctx, testdb.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { staffStore.Close() })
	hash, err := passwords.Bcrypt{Cost: 4}.Hash(staffPass)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	boss := &store.User{ID: "staff-7", Email: staffEmail, PasswordHash: hash, CreatedAt: now}
	if err := staffStore.CreateUser(ctx, boss); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*store.Client{
		{ID: "staffapp", Name: "Staff Console", SecretHash: authserver.HashSecret(webSecret), RedirectURIs: []string{staffCB}, Grants: []string{"authorization_code"}, Provider: "staff"},
		{ID: "ghostapp", Name: "Ghost", SecretHash: authserver.HashSecret(webSecret), RedirectURIs: []string{staffCB}, Grants: []string{"authorization_code"}, Provider: "ghost"},
	} {
		c.CreatedAt, c.UpdatedAt = now, now
		if err := f.st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	s := browserSite(t, f, func(cfg *authserver.Config) {
		cfg.Providers = map[string]authserver.UserProvider{
			authserver.DefaultProvider: authserver.NewBuiltinUsers(f.st),
			"staff":                    authserver.NewBuiltinUsers(staffStore),
		}
	})
	return s, boss.ID
}

func staffQuery(client string) url.Values {
	return url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {staffCB}, "scope": {"orders:read"}, "state": {"st-staff"}}
}

// A client bound to a user provider signs its users in with that provider: a session of
// the default provider's user does not authorize it, the default provider's credentials
// do not sign in there, and the code's tokens carry the provider and its user.
func TestAuthorizeSignsInWithTheClientsProvider(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, bossID := staffSite(t, f)
		b := s.browser(t)
		b.login("") // ada, of the default provider

		p := b.authorize(staffQuery("staffapp"))
		loc := p.location(t)
		if p.status != http.StatusFound || loc.Path != authserver.PathLogin || loc.Query().Get("provider") != "staff" {
			t.Fatalf("a default-provider session at a staff client: %d %s", p.status, loc)
		}
		// The login form keeps the provider, though a session exists.
		form := b.get(loc.RequestURI())
		if form.status != http.StatusOK || !strings.Contains(form.body, `name="provider" value="staff"`) {
			t.Fatalf("login form for the staff provider: %d %.400s", form.status, form.body)
		}
		returnTo := loc.Query().Get("return_to")
		post := func(user, pass string) page {
			return b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {user}, "password": {pass}, "provider": {"staff"}, "return_to": {returnTo}}, nil)
		}
		if r := post(userEmail, userPass); r.status != http.StatusUnauthorized {
			t.Fatalf("a default-provider user signed in to the staff provider: %d", r.status)
		}
		if r := post(staffEmail, staffPass); r.status != http.StatusSeeOther || r.location(t).String() != returnTo {
			t.Fatalf("staff sign-in: %d %s", r.status, r.header.Get("Location"))
		}

		code := b.codeFor(staffQuery("staffapp"))
		tok := s.exchange("staffapp", webSecret, url.Values{"code": {code}, "redirect_uri": {staffCB}})
		if tok.Status != 200 {
			t.Fatalf("exchange: %d %v", tok.Status, tok.Body)
		}
		_, claims := f.claims(tok.Body["access_token"].(string))
		if claims["sub"] != bossID || claims["provider"] != "staff" {
			t.Fatalf("claims of a staff client's token: sub %v provider %v", claims["sub"], claims["provider"])
		}

		// Now signed in as staff: a default-provider client asks for a default sign-in.
		p = b.authorize(webQuery())
		if loc := p.location(t); loc.Path != authserver.PathLogin || loc.Query().Has("provider") {
			t.Fatalf("a staff session at a default-provider client: %d %s", p.status, loc)
		}
	})
}

// A client bound to a provider that is not configured is refused, never served by the
// default provider's users.
func TestAuthorizeRefusesAClientOfAnUnconfiguredProvider(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, _ := staffSite(t, f)
		b := s.browser(t)
		b.login("")
		loc := b.authorize(staffQuery("ghostapp")).location(t)
		if loc.Query().Get("error") != "unauthorized_client" || !strings.HasPrefix(loc.String(), staffCB) {
			t.Fatalf("client of an unconfigured provider: %s", loc)
		}
	})
}
