package authserver_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/passwords"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

// A device client bound to a user provider is approved by a user of that provider: a
// session of the default provider's user is sent to sign in with it first, and the
// tokens carry the provider and its user.
func TestDeviceIsApprovedWithTheClientsProvider(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		staffStore, err := sqlite.Open(ctx, testdb.SQLitePath(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { staffStore.Close() })
		hash, _ := passwords.Bcrypt{Cost: 4}.Hash(staffPass)
		now := time.Now().UTC()
		if err := staffStore.CreateUser(ctx, &store.User{ID: "staff-7", Email: staffEmail, PasswordHash: hash, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := f.st.CreateClient(ctx, &store.Client{ID: "stafftv", Name: "Staff Screen", Provider: "staff",
			Grants: []string{authserver.GrantDeviceCode}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		s, clk := deviceSite(t, f, func(cfg *authserver.Config) {
			cfg.Providers = map[string]authserver.UserProvider{
				authserver.DefaultProvider: authserver.NewBuiltinUsers(f.st),
				"staff":                    authserver.NewBuiltinUsers(staffStore),
			}
		})
		r := s.deviceAuth("stafftv", "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("device authorization: %d %v", r.Status, r.Body)
		}
		dc, uc := r.Body["device_code"].(string), r.Body["user_code"].(string)

		b := s.browser(t)
		b.login("") // ada, of the default provider
		p := b.enterCode(uc, "192.0.2.1")
		loc := p.location(t)
		if p.status != http.StatusSeeOther || loc.Path != authserver.PathLogin || loc.Query().Get("provider") != "staff" ||
			loc.Query().Get("return_to") != authserver.PathDevice+"?user_code="+uc {
			t.Fatalf("a default-provider session entering a staff device's code: %d %s", p.status, loc)
		}
		form := b.get(loc.RequestURI())
		signIn := b.post(authserver.PathLogin, url.Values{"_csrf": {form.csrf(t)}, "username": {staffEmail}, "password": {staffPass},
			"provider": {"staff"}, "return_to": {loc.Query().Get("return_to")}}, nil)
		if back := signIn.location(t); back.RequestURI() != authserver.PathDevice+"?user_code="+url.QueryEscape(uc) {
			t.Fatalf("after signing in with staff: %s", back)
		}
		confirm := b.enterCode(uc, "192.0.2.1")
		if done := b.answer(confirm, uc, "approve"); done.status != http.StatusOK {
			t.Fatalf("approving: %d %.300s", done.status, done.body)
		}
		clk.advance(time.Second)
		tok := s.poll("stafftv", "", dc)
		if tok.Status != http.StatusOK {
			t.Fatalf("poll: %d %v", tok.Status, tok.Body)
		}
		if _, cl := f.claims(tok.Body["access_token"].(string)); cl["sub"] != "staff-7" || cl["provider"] != "staff" {
			t.Fatalf("claims %v", cl)
		}
	})
}

// A user deleted between approving and the device's poll gets the device nothing.
func TestDeviceOfADeletedUserGetsNoTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, clk := deviceSite(t, f, nil)
		dc, uc := s.newDeviceCode("")
		s.approveDevice(t, uc)
		if err := f.st.DeleteUser(context.Background(), f.userID); err != nil {
			t.Fatal(err)
		}
		clk.advance(time.Second)
		wantError(t, "poll after the user was deleted", s.poll("tv", "", dc), 400, "invalid_grant")
	})
}

// Wrong user codes sent all at once from one session cannot slip past its limit before
// the first failures are counted.
func TestConcurrentUserCodeGuessesDoNotSlipPastTheLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, _ := deviceSite(t, f, func(c *authserver.Config) {
			c.DeviceUserCodeThrottle = authserver.DeviceUserCodeThrottle{PerSession: 3, PerIP: 100}
		})
		b := s.browser(t)
		b.login("")
		token := b.get(authserver.PathDevice).csrf(t)
		const n = 12
		statuses := make([]int, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses[i] = b.post(authserver.PathDevice, url.Values{"_csrf": {token}, "user_code": {"BBBB-BBBB"}},
					map[string]string{"X-Test-Client-IP": "192.0.2.44"}).status
			}()
		}
		close(start)
		wg.Wait()
		wrong := 0
		for _, st := range statuses {
			switch st {
			case http.StatusBadRequest:
				wrong++
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("statuses %v", statuses)
			}
		}
		if wrong != 3 {
			t.Fatalf("%d guesses were looked up, want 3 (statuses %v)", wrong, statuses)
		}
	})
}

// The device flow, answered and refused, logs and announces no device code, user code
// or token.
func TestDeviceFlowLogsAndEventsNeverContainACode(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		rec := &recorded{}
		s, clk := deviceSite(t, f, rec.configure)
		dc, uc := s.newDeviceCode("orders:read")
		s.poll("tv2", "", dc)
		s.poll("tv", "", dc)
		b := s.approveDevice(t, uc)
		b.enterCode(uc, "192.0.2.1")
		b.enterCode("BBBB-CCCC", "192.0.2.1")
		clk.advance(time.Second)
		tok := s.poll("tv", "", dc)
		if tok.Status != http.StatusOK {
			t.Fatalf("poll: %d %v", tok.Status, tok.Body)
		}
		s.poll("tv", "", dc)
		text := rec.text()
		if !strings.Contains(text, authserver.EventAccessTokenCreated) {
			t.Fatalf("the token's creation was not announced:\n%s", text)
		}
		for name, secret := range map[string]string{
			"device code": dc, "user code": uc, "normalised user code": strings.ReplaceAll(uc, "-", ""),
			"access token": tok.Body["access_token"].(string), "refresh token": tok.Body["refresh_token"].(string),
			"session cookie": b.sessionCookie(),
		} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s appears in the logs or events:\n%s", name, text)
			}
		}
	})
}
