package authserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// deviceSite is a browser site with device clients, a hand-moved clock, a 1 s polling
// interval, and the client address taken from X-Test-Client-IP (as Caddy's client IP
// would be): tv (public, device code and refresh token), tvc (confidential, device code
// only) and tv2 (public, device code).
func deviceSite(t *testing.T, f *fixture, mutate func(*authserver.Config)) (*site, *clock) {
	t.Helper()
	now := time.Now().UTC()
	for _, c := range []*store.Client{
		{ID: "tv", Name: "Living Room TV", Grants: []string{authserver.GrantDeviceCode, authserver.GrantRefreshToken}},
		{ID: "tvc", Name: "Kiosk", SecretHash: authserver.HashSecret(webSecret), Grants: []string{authserver.GrantDeviceCode}},
		{ID: "tv2", Name: "Other TV", Grants: []string{authserver.GrantDeviceCode}},
	} {
		c.CreatedAt, c.UpdatedAt = now, now
		if err := f.st.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	clk := &clock{t: now}
	s := browserSite(t, f, func(cfg *authserver.Config) {
		cfg.Now = clk.now
		cfg.DevicePollInterval = time.Second
		cfg.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Client-IP") }
		if mutate != nil {
			mutate(cfg)
		}
	})
	return s, clk
}

// deviceAuth posts a device authorization request; secret "" makes a public client's.
func (s *site) deviceAuth(clientID, secret string, form url.Values) tokenReply {
	s.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if secret == "" && clientID != "" {
		form.Set("client_id", clientID)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+authserver.PathDeviceAuthorization, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(clientID, secret)
	}
	return s.do(req)
}

// newDeviceCode asks for a device code for tv and returns the device code and user code.
func (s *site) newDeviceCode(scope string) (deviceCode, userCode string) {
	s.t.Helper()
	r := s.deviceAuth("tv", "", url.Values{"scope": {scope}})
	if r.Status != http.StatusOK {
		s.t.Fatalf("device authorization: %d %v", r.Status, r.Body)
	}
	return r.Body["device_code"].(string), r.Body["user_code"].(string)
}

// poll is the device's token request.
func (s *site) poll(clientID, secret, deviceCode string) tokenReply {
	s.t.Helper()
	form := url.Values{"grant_type": {authserver.GrantDeviceCode}, "device_code": {deviceCode}}
	if secret == "" {
		form.Set("client_id", clientID)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+authserver.PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(clientID, secret)
	}
	return s.do(req)
}

// wantError fails unless r is a §5.2 error with code.
func wantError(t *testing.T, what string, r tokenReply, status int, code string) {
	t.Helper()
	if r.Status != status || r.Body["error"] != code {
		t.Fatalf("%s: %d %v, want %d %s", what, r.Status, r.Body, status, code)
	}
}

// enterCode opens the device page (signed in) and posts typed as the user code, from
// the address ip.
func (b *browser) enterCode(typed, ip string) page {
	b.t.Helper()
	form := b.get(authserver.PathDevice)
	if form.status != http.StatusOK {
		b.t.Fatalf("GET device page: %d %.300s", form.status, form.body)
	}
	return b.post(authserver.PathDevice, url.Values{"_csrf": {form.csrf(b.t)}, "user_code": {typed}},
		map[string]string{"X-Test-Client-IP": ip})
}

// answer posts decision on the confirmation page confirm.
func (b *browser) answer(confirm page, userCode, decision string) page {
	b.t.Helper()
	return b.post(authserver.PathDevice, url.Values{"_csrf": {confirm.csrf(b.t)}, "user_code": {userCode}, "decision": {decision}},
		map[string]string{"X-Test-Client-IP": "192.0.2.1"})
}

// confirmDevice signs a new browser in and enters userCode (from 192.0.2.1); it returns
// the browser and the page the code brought up.
func (s *site) confirmDevice(t *testing.T, userCode string) (*browser, page) {
	t.Helper()
	b := s.browser(t)
	b.login("")
	return b, b.enterCode(userCode, "192.0.2.1")
}

// approveDevice signs a new browser in and approves userCode.
func (s *site) approveDevice(t *testing.T, userCode string) *browser {
	t.Helper()
	b, confirm := s.confirmDevice(t, userCode)
	if confirm.status != http.StatusOK || !strings.Contains(confirm.body, `id="approve"`) {
		t.Fatalf("confirmation page: %d %.500s", confirm.status, confirm.body)
	}
	if done := b.answer(confirm, userCode, "approve"); done.status != http.StatusOK || !strings.Contains(done.body, "Device connected") {
		t.Fatalf("approving: %d %.500s", done.status, done.body)
	}
	return b
}

var userCodeForm = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestDeviceAuthorizationAnswersWithRFC8628Fields(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, _ := deviceSite(t, f, nil)
		for _, who := range []struct{ id, secret string }{{"tv", ""}, {"tvc", webSecret}} {
			r := s.deviceAuth(who.id, who.secret, url.Values{"scope": {"orders:read orders:write"}})
			if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s: %d %v %v", who.id, r.Status, r.Header, r.Body)
			}
			dc, _ := r.Body["device_code"].(string)
			uc, _ := r.Body["user_code"].(string)
			if len(dc) != 43 || !userCodeForm.MatchString(uc) {
				t.Errorf("device_code %q (want 256 bits, base64url), user_code %q", dc, uc)
			}
			if r.Body["verification_uri"] != s.url+"/oauth/device" ||
				r.Body["verification_uri_complete"] != s.url+"/oauth/device?user_code="+uc ||
				r.Body["expires_in"] != float64(600) || r.Body["interval"] != float64(1) {
				t.Errorf("answer %v", r.Body)
			}
			// Neither code is stored as it is.
			dump := f.dump()
			if strings.Contains(dump, dc) || strings.Contains(dump, strings.ReplaceAll(uc, "-", "")) || strings.Contains(dump, uc) {
				t.Error("a device or user code is stored in clear")
			}
			if !strings.Contains(dump, authserver.Digest(dc)) || !strings.Contains(dump, authserver.Digest(strings.ReplaceAll(uc, "-", ""))) {
				t.Error("the codes' digests are not what is stored")
			}
		}
		// The metadata names the endpoint and the grant.
		req, _ := http.NewRequest(http.MethodGet, s.url+authserver.PathMetadata, nil)
		md := s.do(req)
		grants, _ := json.Marshal(md.Body["grant_types_supported"])
		if md.Body["device_authorization_endpoint"] != s.url+authserver.PathDeviceAuthorization || !strings.Contains(string(grants), authserver.GrantDeviceCode) {
			t.Errorf("metadata %v", md.Body)
		}
	})
}

func TestDeviceAuthorizationDefaultsAreTenMinutesAndFiveSeconds(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, _ := deviceSite(t, f, func(c *authserver.Config) { c.DevicePollInterval = 0 })
		r := s.deviceAuth("tv", "", nil)
		if r.Status != http.StatusOK || r.Body["expires_in"] != float64(600) || r.Body["interval"] != float64(5) {
			t.Fatalf("%d %v", r.Status, r.Body)
		}
	})
}

func TestDeviceAuthorizationRefusalsChangeNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, _ := deviceSite(t, f, nil)
		before := f.dump()
		wantError(t, "client without the grant", s.deviceAuth("web", webSecret, nil), 400, "unauthorized_client")
		wantError(t, "wrong secret", s.deviceAuth("tvc", "wrong-secret-0123456789", nil), 401, "invalid_client")
		wantError(t, "confidential client without its secret", s.deviceAuth("tvc", "", nil), 401, "invalid_client")
		wantError(t, "unknown client", s.deviceAuth("nobody", "", nil), 401, "invalid_client")
		wantError(t, "no client", s.deviceAuth("", "", nil), 401, "invalid_client")
		wantError(t, "undefined scope", s.deviceAuth("tv", "", url.Values{"scope": {"admin"}}), 400, "invalid_scope")
		wantError(t, "every scope", s.deviceAuth("tv", "", url.Values{"scope": {"*"}}), 400, "invalid_scope")
		req, _ := http.NewRequest(http.MethodGet, s.url+authserver.PathDeviceAuthorization, nil)
		wantError(t, "GET", s.do(req), 405, "invalid_request")
		if f.dump() != before {
			t.Fatal("a refused device authorization request changed the store")
		}
	})
}

func TestDeviceApprovedByTheUserGetsTokensOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, clk := deviceSite(t, f, nil)
		dc, uc := s.newDeviceCode("orders:read orders:write")
		wantError(t, "poll before the user answers", s.poll("tv", "", dc), 400, "authorization_pending")

		b := s.browser(t)
		b.login("")
		// Typed in lower case with a space instead of the dash: the same code.
		typed := strings.ToLower(strings.Replace(uc, "-", " ", 1))
		confirm := b.enterCode(typed, "192.0.2.1")
		if confirm.status != http.StatusOK {
			t.Fatalf("confirmation page: %d %.500s", confirm.status, confirm.body)
		}
		for _, want := range []string{"Living Room TV", "Read orders", "Write orders", uc, userEmail, `id="deny"`} {
			if !strings.Contains(confirm.body, want) {
				t.Errorf("confirmation page lacks %q", want)
			}
		}
		if csp := confirm.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("CSP %q", csp)
		}
		clk.advance(time.Second)
		wantError(t, "poll while the page is shown", s.poll("tv", "", dc), 400, "authorization_pending")
		if done := b.answer(confirm, uc, "approve"); done.status != http.StatusOK || !strings.Contains(done.body, "Device connected") {
			t.Fatalf("approving: %d %.500s", done.status, done.body)
		}
		rec, err := f.st.GetDeviceCode(context.Background(), authserver.Digest(dc))
		if err != nil || rec.UserID != f.userID || rec.Provider != authserver.DefaultProvider || rec.AuthTime.IsZero() || rec.AuthTime.After(clk.now()) {
			t.Fatalf("recorded approval %+v, %v", rec, err)
		}

		clk.advance(time.Second)
		r := s.poll("tv", "", dc)
		if r.Status != http.StatusOK || r.Body["refresh_token"] == nil || r.Body["scope"] != "orders:read orders:write" {
			t.Fatalf("poll after approval: %d %v", r.Status, r.Body)
		}
		_, cl := f.claims(r.Body["access_token"].(string))
		if cl["sub"] != f.userID || cl["client_id"] != "tv" || cl["provider"] != authserver.DefaultProvider {
			t.Errorf("claims %v", cl)
		}
		// A device code gives tokens once.
		clk.advance(time.Second)
		wantError(t, "second exchange", s.poll("tv", "", dc), 400, "invalid_grant")
		// The refresh token works as any other.
		rr := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Body["refresh_token"].(string)}, "client_id": {"tv"}}, "", "")
		if rr.Status != http.StatusOK {
			t.Errorf("refreshing: %d %v", rr.Status, rr.Body)
		}
		// The user's authorized apps list the device's tokens.
		req, _ := http.NewRequest(http.MethodGet, s.url+authserver.PathTokens, nil)
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"client_name":"Living Room TV"`) {
			t.Errorf("GET /oauth/tokens: %d %s", resp.StatusCode, raw)
		}
		// The code cannot be entered again.
		again := b.enterCode(uc, "192.0.2.1")
		if again.status != http.StatusBadRequest || !strings.Contains(again.body, "already used") {
			t.Errorf("used code entered again: %d %.300s", again.status, again.body)
		}
	})
}

func TestConcurrentPollsOfAnApprovedDeviceGetTokensOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, clk := deviceSite(t, f, nil)
		dc, uc := s.newDeviceCode("")
		s.approveDevice(t, uc)
		clk.advance(time.Second)
		const n = 8
		replies := make([]tokenReply, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				replies[i] = s.poll("tv", "", dc)
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, r := range replies {
			switch {
			case r.Status == http.StatusOK:
				ok++
			case r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_grant":
				t.Errorf("a losing poll got %d %v, want invalid_grant", r.Status, r.Body)
			}
		}
		if ok != 1 {
			t.Fatalf("%d polls got tokens, want exactly 1", ok)
		}
	})
}

func TestPollingFasterThanTheIntervalGetsSlowDownAndARaisedInterval(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, clk := deviceSite(t, f, nil)
		dc, _ := s.newDeviceCode("")
		interval := func() time.Duration {
			rec, err := f.st.GetDeviceCode(context.Background(), authserver.Digest(dc))
			if err != nil {
				t.Fatal(err)
			}
			return rec.Interval
		}
		wantError(t, "first poll", s.poll("tv", "", dc), 400, "authorization_pending")
		clk.advance(500 * time.Millisecond)
		wantError(t, "poll after half the interval", s.poll("tv", "", dc), 400, "slow_down")
		if got := interval(); got != 6*time.Second {
			t.Fatalf("interval after slow_down %v, want 6s", got)
		}
		// The raised interval holds for the following polls.
		clk.advance(time.Second)
		wantError(t, "poll after the old interval", s.poll("tv", "", dc), 400, "slow_down")
		if got := interval(); got != 11*time.Second {
			t.Fatalf("interval after the second slow_down %v, want 11s", got)
		}
		clk.advance(11 * time.Second)
		wantError(t, "poll after the raised interval", s.poll("tv", "", dc), 400, "authorization_pending")
		clk.advance(11 * time.Second)
		wantError(t, "paced poll", s.poll("tv", "", dc), 400, "authorization_pending")
	})
}

func TestDeniedDeviceGetsAccessDenied(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, clk := deviceSite(t, f, nil)
		dc, uc := s.newDeviceCode("")
		b, confirm := s.confirmDevice(t, uc)
		if done := b.answer(confirm, uc, "deny"); done.status != http.StatusOK || !strings.Contains(done.body, "Device denied") {
			t.Fatalf("denying: %d %.300s", done.status, done.body)
		}
		clk.advance(time.Second)
		wantError(t, "poll after deny", s.poll("tv", "", dc), 400, "access_denied")
		clk.advance(time.Second)
		wantError(t, "poll again after deny", s.poll("tv", "", dc), 400, "access_denied")
		// An answered code cannot be answered again, in either direction.
		if again := b.answer(confirm, uc, "approve"); again.status != http.StatusBadRequest {
			t.Fatalf("approving a denied code: %d %.300s", again.status, again.body)
		}
		wantError(t, "poll after the late approval", s.poll("tv", "", dc), 400, "access_denied")
	})
}

func TestExpiredDeviceCodeIsRefusedAtTheTokenEndpointAndOnThePage(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, clk := deviceSite(t, f, nil)
		dc, uc := s.newDeviceCode("")
		b, confirm := s.confirmDevice(t, uc)
		clk.advance(10 * time.Minute)
		wantError(t, "poll at expiry", s.poll("tv", "", dc), 400, "expired_token")
		if p := b.enterCode(uc, "192.0.2.1"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "Code expired") {
			t.Fatalf("expired code entered: %d %.300s", p.status, p.body)
		}
		if p := b.answer(confirm, uc, "approve"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "expired") {
			t.Fatalf("approving an expired code: %d %.300s", p.status, p.body)
		}
		wantError(t, "poll after the late approval", s.poll("tv", "", dc), 400, "expired_token")
	})
}

func TestDeviceCodeOfAnotherClientOrUnknownIsRefusedAndChangesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, clk := deviceSite(t, f, nil)
		dc, uc := s.newDeviceCode("")
		s.approveDevice(t, uc)
		clk.advance(time.Second)
		before := f.dump()
		wantError(t, "another client's device code", s.poll("tv2", "", dc), 400, "invalid_grant")
		wantError(t, "another client's, confidential", s.poll("tvc", webSecret, dc), 400, "invalid_grant")
		wantError(t, "unknown device code", s.poll("tv", "", tamper(dc)), 400, "invalid_grant")
		wantError(t, "no device code", s.poll("tv", "", ""), 400, "invalid_request")
		wantError(t, "client without the grant", f.post(url.Values{"grant_type": {authserver.GrantDeviceCode}, "device_code": {dc}}, "app", pwSecret), 400, "unauthorized_client")
		if f.dump() != before {
			t.Fatal("a refused poll changed the store")
		}
		// The rightful client still gets its tokens.
		if r := s.poll("tv", "", dc); r.Status != http.StatusOK {
			t.Fatalf("the owner's poll: %d %v", r.Status, r.Body)
		}
	})
}

func TestDeviceApprovalWithoutTheSessionsCSRFTokenIsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, _ := deviceSite(t, f, nil)
		dc, uc := s.newDeviceCode("")
		b, confirm := s.confirmDevice(t, uc)
		other := s.browser(t)
		other.login("")
		otherToken := other.get(authserver.PathDevice).csrf(t)
		for _, c := range []struct {
			name   string
			form   url.Values
			header map[string]string
		}{
			{"no token", url.Values{"user_code": {uc}, "decision": {"approve"}}, nil},
			{"another session's token", url.Values{"_csrf": {otherToken}, "user_code": {uc}, "decision": {"approve"}}, nil},
			{"foreign origin", url.Values{"_csrf": {confirm.csrf(t)}, "user_code": {uc}, "decision": {"approve"}}, map[string]string{"Origin": "https://evil.example"}},
		} {
			if p := b.post(authserver.PathDevice, c.form, c.header); p.status != http.StatusForbidden {
				t.Errorf("%s: %d %.200s", c.name, p.status, p.body)
			}
		}
		rec, err := f.st.GetDeviceCode(context.Background(), authserver.Digest(dc))
		if err != nil || rec.Decision != store.DevicePending {
			t.Fatalf("after refused approvals: %+v %v", rec, err)
		}
		// Without a session the page sends the browser to sign in and back, code kept.
		anon := s.browser(t)
		p := anon.get(authserver.PathDevice + "?user_code=" + url.QueryEscape(strings.ToLower(uc)))
		if loc := p.location(t); p.status != http.StatusFound || loc.Path != authserver.PathLogin ||
			loc.Query().Get("return_to") != authserver.PathDevice+"?user_code="+uc {
			t.Fatalf("without a session: %d %s", p.status, loc)
		}
		p = anon.post(authserver.PathDevice, url.Values{"user_code": {uc}, "decision": {"approve"}}, nil)
		if p.status != http.StatusSeeOther || p.location(t).Path != authserver.PathLogin {
			t.Fatalf("posting without a session: %d", p.status)
		}
		// verification_uri_complete fills the form in, and looks nothing up.
		filled := b.get(authserver.PathDevice + "?user_code=" + url.QueryEscape(uc))
		if filled.status != http.StatusOK || !strings.Contains(filled.body, `value="`+uc+`"`) || strings.Contains(filled.body, `id="approve"`) {
			t.Fatalf("verification_uri_complete: %d %.500s", filled.status, filled.body)
		}
	})
}

func TestUserCodeGuessingIsThrottledPerSessionAndPerAddress(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s, clk := deviceSite(t, f, func(c *authserver.Config) {
			c.DeviceUserCodeThrottle = authserver.DeviceUserCodeThrottle{PerSession: 3, PerIP: 5, Window: 15 * time.Minute}
		})
		_, uc := s.newDeviceCode("")
		wrong := "BBBB-BBBB"
		if wrong == uc {
			wrong = "CCCC-CCCC"
		}
		signedIn := func() *browser { b := s.browser(t); b.login(""); return b }

		// Per session: three wrong codes, then even the right one is refused.
		a := signedIn()
		for i := range 3 {
			if p := a.enterCode(wrong, "192.0.2.10"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "not valid") {
				t.Fatalf("wrong code #%d: %d %.200s", i+1, p.status, p.body)
			}
		}
		locked := a.enterCode(uc, "192.0.2.10")
		if locked.status != http.StatusTooManyRequests || locked.header.Get("Retry-After") == "" || !strings.Contains(locked.body, "Too many attempts") {
			t.Fatalf("session over its limit: %d %v %.200s", locked.status, locked.header, locked.body)
		}
		// A malformed entry is not a guess: not counted (a fresh session, same address).
		m := signedIn()
		for range 4 {
			if p := m.enterCode("not a code", "192.0.2.10"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "8-letter") {
				t.Fatalf("malformed code: %d %.200s", p.status, p.body)
			}
		}
		// Per address: two more wrong codes from another session make five; the address is
		// then locked out whatever the session.
		for range 2 {
			m.enterCode(wrong, "192.0.2.10")
		}
		if p := signedIn().enterCode(uc, "192.0.2.10"); p.status != http.StatusTooManyRequests {
			t.Fatalf("address over its limit: %d %.200s", p.status, p.body)
		}
		// Another address is not affected.
		if p := signedIn().enterCode(uc, "198.51.100.7"); p.status != http.StatusOK {
			t.Fatalf("another address: %d %.200s", p.status, p.body)
		}
		// A right code does not reset the address's count.
		c1, c2 := signedIn(), signedIn()
		for range 2 {
			c1.enterCode(wrong, "203.0.113.5")
			c2.enterCode(wrong, "203.0.113.5")
		}
		if p := c1.enterCode(uc, "203.0.113.5"); p.status != http.StatusOK {
			t.Fatalf("right code within the limits: %d %.200s", p.status, p.body)
		}
		signedIn().enterCode(wrong, "203.0.113.5") // the fifth failure
		if p := signedIn().enterCode(uc, "203.0.113.5"); p.status != http.StatusTooManyRequests {
			t.Fatalf("after a right code and a fifth wrong one: %d %.200s", p.status, p.body)
		}
		// The window ends.
		clk.advance(15 * time.Minute)
		_, fresh := s.newDeviceCode("")
		if p := a.enterCode(fresh, "192.0.2.10"); p.status != http.StatusOK {
			t.Fatalf("after the window: %d %.200s", p.status, p.body)
		}
	})
}
