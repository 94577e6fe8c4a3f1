package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// loginCSRFCookie protects the login form itself (login CSRF: a site making the browser
// sign in to the attacker's account). There is no session yet, so the form's token is
// the double-submit kind: the same random value in this HttpOnly cookie and in the form.
// A double-submit cookie is only as good as the guarantee that no one else can set it: a
// sibling subdomain (evil.example.com for auth.example.com) may set a cookie for the
// parent domain, which the browser then sends here. Served securely (secureRequest), the
// cookie is therefore named with the "__Host-" prefix, which browsers accept only from
// this very host, Secure, with Path=/ and no Domain; only that name is read then, so a
// planted plain-named cookie is ignored. Over plain http no prefix is possible (browsers
// refuse "__Host-" cookies that are not Secure) and the plain name on PathLogin is used.
const loginCSRFCookie = "oauth_login_csrf"

// hostCookiePrefix is the cookie-name prefix a browser accepts only from the host itself
// over https, Secure, Path=/ and without Domain (RFC 6265bis, "__Host-" prefix).
const hostCookiePrefix = "__Host-"

// loginCSRFName is the name of the login CSRF cookie for r, and the path it is set on.
func (s *Server) loginCSRFName(r *http.Request) (name, path string) {
	if s.secureRequest(r) {
		return hostCookiePrefix + loginCSRFCookie, "/"
	}
	return loginCSRFCookie, PathLogin
}

// loginPage is the data of the login page.
type loginPage struct {
	Action   string
	CSRF     string
	ReturnTo string
	// Provider names the user provider the form signs in with; empty for the default.
	Provider string
	Username string
	Error    string
	// SignedInAs is set when the browser already has a session: the page then offers
	// to sign out instead.
	SignedInAs   string
	LogoutAction string
	LogoutCSRF   string
}

// serveLogin is GET and POST /oauth/login. A failure is shown on the error page.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	var oerr *Error
	if r.Method == http.MethodPost {
		oerr = s.login(w, r)
	} else {
		oerr = s.showLogin(w, r)
	}
	if oerr != nil {
		s.renderError(w, oerr)
	}
}

// showLogin is GET /oauth/login: the login form, or who is signed in. prompt=login (an
// OpenID Connect request that wants a fresh sign-in) shows the form even to a signed-in
// browser; login_hint prefills the username.
func (s *Server) showLogin(w http.ResponseWriter, r *http.Request) *Error {
	q := r.URL.Query()
	returnTo, _ := safeReturnTo(q.Get("return_to"))
	providerName := s.loginProvider(q.Get("provider"))
	sess, err := s.currentSession(r)
	switch {
	case err == nil && sess.Provider != providerName:
		// Signed in with another provider's account: this sign-in replaces it.
	case err == nil && q.Get("prompt") == promptLogin && returnTo != "":
		// Signed in, but asked to sign in again: the new sign-in replaces the session.
	case err == nil && returnTo != "":
		redirect(w, r, returnTo)
		return nil
	case err == nil:
		s.renderPage(w, http.StatusOK, "login", "Signed in", loginPage{
			SignedInAs: sess.Username, LogoutAction: PathLogout, LogoutCSRF: sess.CSRFToken,
		})
		return nil
	case !errors.Is(err, errNoSession):
		return errUnavailable("reading session", err)
	}
	s.showLoginForm(w, r, http.StatusOK, returnTo, providerName, strings.TrimSpace(q.Get("login_hint")), "")
	return nil
}

// loginProvider is the configured provider a login form signs in with: the one named, if
// configured, else the default. An unknown name falls back to the default rather than
// failing, because it only ever comes from our own links.
func (s *Server) loginProvider(name string) string {
	if _, ok := s.cfg.Providers[name]; ok && name != "" {
		return name
	}
	return DefaultProvider
}

// showLoginForm renders the login form with a login CSRF token, reusing the browser's
// current one so that two open login tabs both work.
func (s *Server) showLoginForm(w http.ResponseWriter, r *http.Request, status int, returnTo, providerName, username, message string) {
	token := ""
	name, path := s.loginCSRFName(r)
	if c, err := r.Cookie(name); err == nil && len(c.Value) == len(NewSecret()) {
		token = c.Value
	} else {
		token = NewSecret()
	}
	s.setCookie(w, r, name, token, path, 0)
	page := loginPage{Action: PathLogin, CSRF: token, ReturnTo: returnTo, Username: username, Error: message}
	if providerName != DefaultProvider {
		page.Provider = providerName
	}
	s.renderPage(w, status, "login", "Sign in", page)
}

// login is POST /oauth/login: check the form's CSRF token, authenticate with the form's
// user provider (the default unless the authorization request's client is bound to
// another), and start a new session (a new id: any earlier one is deleted). A wrong
// password or an expired form shows the form again; other failures are returned.
func (s *Server) login(w http.ResponseWriter, r *http.Request) *Error {
	form, oerr := readPageForm(r)
	if oerr != nil {
		return oerr
	}
	returnTo, _ := safeReturnTo(form.Get("return_to"))
	providerName := s.loginProvider(form.Get("provider"))
	username := strings.TrimSpace(form.Get("username"))
	csrfName, csrfPath := s.loginCSRFName(r)
	cookie, _ := r.Cookie(csrfName)
	if cookie == nil || !sameOrigin(r) || !tokenEqual(form.Get(CSRFField), cookie.Value) {
		s.showLoginForm(w, r, http.StatusForbidden, returnTo, providerName, username, "The form expired. Please sign in again.")
		return nil
	}
	password := form.Get("password")
	if username == "" || password == "" {
		s.showLoginForm(w, r, http.StatusUnprocessableEntity, returnTo, providerName, username, "Enter your email and password.")
		return nil
	}
	provider, ok := s.cfg.Providers[providerName]
	if !ok {
		return errPage(http.StatusServiceUnavailable, "temporarily_unavailable", "Sign-in unavailable", "Signing in is not available right now.").logged(
			"the user provider is not configured", nil, zap.String("provider", providerName))
	}
	// The same throttled check as the password grant's (login_throttle.go).
	userID, oerr := s.authenticateUser(r, providerName, provider, username, password)
	switch {
	case oerr != nil && oerr.Status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(oerr.retryAfter))
		s.showLoginForm(w, r, http.StatusTooManyRequests, returnTo, providerName, username, "Too many failed sign-ins. Wait a few minutes and try again.")
		return nil
	case oerr != nil && oerr.Code == "invalid_grant":
		s.showLoginForm(w, r, http.StatusUnauthorized, returnTo, providerName, username, "The email or password is incorrect.")
		return nil
	case oerr != nil:
		return oerr
	}
	if _, err := s.startSession(w, r, userID, providerName, username); err != nil {
		return errUnavailable("creating session", err)
	}
	s.setCookie(w, r, csrfName, "", csrfPath, -1)
	if returnTo == "" {
		returnTo = PathLogin
	}
	redirect(w, r, returnTo)
	return nil
}

// serveLogout is /oauth/logout: GET is OpenID Connect's end-session request
// (oidc_logout.go), POST the sign-out form. A failure is shown on the error page.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		s.serveEndSession(w, r)
		return
	}
	if oerr := s.logout(w, r); oerr != nil {
		s.renderError(w, oerr)
	}
}

// logout deletes the session when the request carries its CSRF token, and sends the
// browser on: to return_to, a path here, or, from the end-session confirmation, to the
// application's registered post-logout URI, checked again.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) *Error {
	form, oerr := readPageForm(r)
	if oerr != nil {
		return oerr
	}
	done := func() { redirect(w, r, PathLogin) }
	if form.Get("post_logout_redirect_uri") != "" || form.Get("client_id") != "" {
		req, oerr := s.parseLogout(r.Context(), r, url.Values{"client_id": {form.Get("client_id")},
			"post_logout_redirect_uri": {form.Get("post_logout_redirect_uri")}, "state": {form.Get("state")}})
		if oerr != nil {
			return oerr
		}
		done = func() { s.afterLogout(w, r, req) }
	} else if returnTo, ok := safeReturnTo(form.Get("return_to")); ok {
		done = func() { redirect(w, r, returnTo) }
	}
	sess, err := s.currentSession(r)
	if errors.Is(err, errNoSession) {
		done() // already signed out
		return nil
	}
	if err != nil {
		return errUnavailable("reading session", err)
	}
	if !s.checkCSRF(r, sess) {
		return errPage(http.StatusForbidden, "invalid_csrf_token", "Request refused",
			"The request did not come from this site's own page. Go back, reload the page and try again.")
	}
	s.endSession(w, r)
	done()
	return nil
}
