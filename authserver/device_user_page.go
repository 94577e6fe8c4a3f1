package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
)

// DeviceUserCodeThrottle limits guessing of user codes on the device verification page
// (RFC 8628 §5.1). A user code has about 34.6 bits, enough only if guesses are few: wrong
// codes are counted per browser session and per client address (an IPv6 /64) in fixed
// windows kept in the store, so the limits hold across every node; once either count
// reaches its limit the page refuses codes (429) until the window ends. A correct code
// does not reset either count, so a guesser cannot mix in a code of its own to go on.
type DeviceUserCodeThrottle struct {
	// PerSession is how many wrong user codes one browser session may enter per window.
	// Default: 5. Negative: no limit.
	PerSession int
	// PerIP is how many wrong user codes one client address may enter per window,
	// whatever the sessions. Default: 20. Negative: no limit.
	PerIP int
	// Window is the length of a counting window. Default: 15 minutes.
	Window time.Duration
}

// withDefaults fills the zero fields.
func (t DeviceUserCodeThrottle) withDefaults() DeviceUserCodeThrottle {
	if t.PerSession == 0 {
		t.PerSession = 5
	}
	if t.PerIP == 0 {
		t.PerIP = 20
	}
	if t.Window <= 0 {
		t.Window = 15 * time.Minute
	}
	return t
}

// deviceSessionKey and deviceIPKey are the throttle windows' keys: the login throttle's
// store, in a namespace of their own. A session id is already a digest of its cookie.
func deviceSessionKey(sess *store.Session) string { return "device:session:" + sess.ID }
func deviceIPKey(ip string) string                { return "device:" + ipKey(ip) }

// devicePage is the data of the device page, in one of three states: the form to
// enter a user code (neither Confirm nor Done), the confirmation of a found code
// (Confirm), and the answer recorded (Done).
type devicePage struct {
	Action   string
	CSRF     string
	UserCode string
	Error    string

	Confirm    bool
	ClientName string
	Scopes     []scopes.Definition

	Done     bool
	Approved bool

	SignedInAs   string
	LogoutAction string
	ReturnTo     string
}

// serveDevice is GET /oauth/device (the form to enter a user code, filled in from
// ?user_code= as verification_uri_complete gives it) and POST /oauth/device (a code
// entered, or the answer to the confirmation). Every step needs a signed-in session; a
// GET never looks a code up, so guesses can only come by POST, with the session's CSRF
// token, and are counted.
func (s *Server) serveDevice(w http.ResponseWriter, r *http.Request) {
	typed := r.URL.Query().Get("user_code")
	var form url.Values
	if r.Method == http.MethodPost {
		var perr *Error
		if form, perr = readPageForm(r); perr != nil {
			s.renderError(w, perr)
			return
		}
		typed = form.Get("user_code")
	}
	code, valid := normaliseUserCode(typed)
	shown := ""
	if valid {
		shown = formatUserCode(code)
	}
	sess, err := s.currentSession(r)
	if errors.Is(err, errNoSession) {
		s.deviceLogin(w, r, shown, DefaultProvider)
		return
	}
	if err != nil {
		s.renderError(w, errUnavailable("reading session", err))
		return
	}
	page := devicePage{Action: PathDevice, CSRF: sess.CSRFToken, UserCode: shown,
		SignedInAs: sess.Username, LogoutAction: PathLogout, ReturnTo: deviceReturnTo(shown)}
	if r.Method != http.MethodPost {
		s.renderPage(w, http.StatusOK, "device", "Connect a device", page)
		return
	}
	if !s.checkCSRF(r, sess) {
		s.renderError(w, errPage(http.StatusForbidden, "invalid_csrf_token", "Request refused",
			"The form did not come from this site's own page. Reload the page and try again."))
		return
	}
	s.deviceEntry(w, r, sess, form, page, code, valid)
}

// deviceReturnTo is the device page with the code filled in, to come back to after
// signing in or out.
func deviceReturnTo(shown string) string {
	if shown == "" {
		return PathDevice
	}
	return PathDevice + "?" + url.Values{"user_code": {shown}}.Encode()
}

// deviceLogin sends the browser to sign in with provider and come back to the device
// page with the code filled in.
func (s *Server) deviceLogin(w http.ResponseWriter, r *http.Request, shown, provider string) {
	login := url.Values{"return_to": {deviceReturnTo(shown)}}
	if provider != DefaultProvider {
		login.Set("provider", provider)
	}
	redirect(w, r, PathLogin+"?"+login.Encode())
}

// deviceEntry handles a posted user code: throttled, looked up, and then confirmed
// (no decision yet) or answered (decision approve or deny).
func (s *Server) deviceEntry(w http.ResponseWriter, r *http.Request, sess *store.Session, form url.Values, page devicePage, code string, valid bool) {
	ctx := r.Context()
	ip := s.clientIP(r)
	// One entry at a time per address on this node, from the throttle check to the
	// failure being counted, so guesses sent all at once cannot all pass the check first.
	unlock := s.usernameLocks.lock(deviceIPKey(ip))
	defer unlock()
	if oerr := s.checkDeviceThrottle(ctx, sess, ip); oerr != nil {
		s.renderError(w, oerr)
		return
	}
	if !valid {
		// Cannot be a code, so it tells a guesser nothing: not counted.
		page.Error = "Enter the 8-letter code shown on your device."
		s.renderPage(w, http.StatusBadRequest, "device", "Connect a device", page)
		return
	}
	d, err := s.devicePageStore.GetDeviceCodeByUserCode(ctx, userCodeDigest(code))
	var client *store.Client
	if err == nil {
		client, err = s.devicePageStore.GetClient(ctx, d.ClientID)
		if err == nil && client.Revoked {
			err = store.ErrNotFound
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		s.recordDeviceFailure(ctx, sess, ip)
		page.Error = "That code is not valid. Check the code on your device and try again."
		s.renderPage(w, http.StatusBadRequest, "device", "Connect a device", page)
		return
	}
	if err != nil {
		s.renderError(w, errUnavailable("looking up user code", err))
		return
	}
	if oerr := deviceCodeUsable(d, s.now()); oerr != nil {
		s.renderError(w, oerr)
		return
	}
	// The person signs in with the provider the client is bound to, as at the
	// authorization endpoint; a session of another provider's user does not count.
	providerName, p := s.userProvider(client.Provider)
	if p == nil {
		s.renderError(w, errPage(http.StatusBadRequest, "unauthorized_client", cannotComplete,
			"The application's user provider is not configured on this server.").logged(
			"client names an unknown user provider", nil, zap.String("client_id", client.ID), zap.String("provider", providerName)))
		return
	}
	if sess.Provider != providerName {
		s.deviceLogin(w, r, page.UserCode, providerName)
		return
	}
	switch form.Get("decision") {
	case "":
		s.showDeviceConfirm(w, client, d, page)
	case "approve", "deny":
		s.decideDevice(w, r, sess, d, form.Get("decision"), page)
	default:
		s.renderError(w, errPage(http.StatusBadRequest, "invalid_request", "Bad request", "The answer was neither approve nor deny."))
	}
}

// deviceCodeUsable refuses, with a page saying why, a device code that can no longer
// be answered.
func deviceCodeUsable(d *store.DeviceCode, now time.Time) *Error {
	switch {
	case d.Used || d.Decision != store.DevicePending:
		return errPage(http.StatusBadRequest, "invalid_grant", "Code already used",
			"This code was already used. If your device still shows it, start again on the device to get a new code.")
	case !now.Before(d.ExpiresAt):
		return errPage(http.StatusBadRequest, "expired_token", "Code expired",
			"This code has expired. Start again on your device to get a new code.")
	}
	return nil
}

// showDeviceConfirm asks the person to compare the code with the device's screen and
// approve or deny what the client asks for (RFC 8628 §5.4: a code sent by someone else
// must not be approved unawares).
func (s *Server) showDeviceConfirm(w http.ResponseWriter, client *store.Client, d *store.DeviceCode, page devicePage) {
	page.Confirm = true
	page.ClientName = client.Name
	if page.ClientName == "" {
		page.ClientName = client.ID
	}
	descriptions := map[string]string{}
	for _, def := range s.cfg.Scopes.Definitions() {
		descriptions[def.Name] = def.Description
	}
	for _, sc := range d.Scopes {
		desc := descriptions[sc]
		if desc == "" {
			desc = sc
		}
		page.Scopes = append(page.Scopes, scopes.Definition{Name: sc, Description: desc})
	}
	s.renderPage(w, http.StatusOK, "device", "Connect "+page.ClientName, page)
}

// decideDevice records the person's answer with who they are and when their session
// signed in (an OpenID Connect ID token's auth_time).
func (s *Server) decideDevice(w http.ResponseWriter, r *http.Request, sess *store.Session, d *store.DeviceCode, decision string, page devicePage) {
	stored := store.DeviceDenied
	if decision == "approve" {
		stored = store.DeviceApproved
	}
	now := s.now().UTC()
	err := s.devicePageStore.DecideDeviceCode(r.Context(), d.ID, stored, sess.UserID, sess.Provider, sess.CreatedAt, now)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed), errors.Is(err, store.ErrNotFound):
		// Answered in another tab, expired or purged since the code was read.
		s.renderError(w, errPage(http.StatusBadRequest, "invalid_grant", "Code no longer valid",
			"This code was already used or has expired. Start again on your device to get a new code."))
		return
	case err != nil:
		s.renderError(w, errUnavailable("recording device decision", err, zap.String("client_id", d.ClientID)))
		return
	}
	page.Done, page.Approved, page.UserCode, page.ReturnTo = true, stored == store.DeviceApproved, "", PathDevice
	title := "Device denied"
	if page.Approved {
		title = "Device connected"
	}
	s.renderPage(w, http.StatusOK, "device", title, page)
}

// checkDeviceThrottle refuses, with a 429 page and Retry-After, a session or address
// that entered too many wrong user codes in the current window.
func (s *Server) checkDeviceThrottle(ctx context.Context, sess *store.Session, ip string) *Error {
	lim, now := s.cfg.DeviceUserCodeThrottle, s.now()
	var wait time.Duration
	for _, c := range []struct {
		key   string
		limit int
	}{{deviceSessionKey(sess), lim.PerSession}, {deviceIPKey(ip), lim.PerIP}} {
		if c.limit < 0 {
			continue
		}
		n, until, err := s.devicePageStore.LoginFailures(ctx, c.key, now)
		if err != nil {
			return errUnavailable("reading user code failures", err)
		}
		if n >= c.limit {
			wait = max(wait, until.Sub(now))
		}
	}
	if wait <= 0 {
		return nil
	}
	secs := int((wait + time.Second - 1) / time.Second)
	e := errPage(http.StatusTooManyRequests, "slow_down", "Too many attempts",
		fmt.Sprintf("Too many codes that do not exist were entered. Wait %s and try again.", waitWords(secs)))
	e.retryAfter = secs
	return e
}

// waitWords says a wait in seconds the way a person reads it.
func waitWords(secs int) string {
	if secs < 90 {
		return strconv.Itoa(secs) + " seconds"
	}
	return strconv.Itoa((secs+59)/60) + " minutes"
}

// recordDeviceFailure counts a wrong user code against the session and the address. A
// store error is logged, not returned: the entry has failed either way.
func (s *Server) recordDeviceFailure(ctx context.Context, sess *store.Session, ip string) {
	lim, now := s.cfg.DeviceUserCodeThrottle, s.now()
	for _, key := range []string{deviceSessionKey(sess), deviceIPKey(ip)} {
		if _, _, err := s.devicePageStore.RecordLoginFailure(ctx, key, now, lim.Window); err != nil {
			s.log.Error("recording a wrong user code", zap.Error(err))
			return
		}
	}
}
