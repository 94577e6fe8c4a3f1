package authserver

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// loginCSRFCookie protects the login form itself (login CSRF: a site making the browser
// sign in to the attacker's account). There is no session yet, so the form's token is
// the double-submit kind: the same random value in this HttpOnly cookie and in the form.
const loginCSRFCookie = "oauth_login_csrf"

// loginPage is the data of the login page.
type loginPage struct {
	Action   string
	CSRF     string
	ReturnTo string
	Username string
	Error    string
	// SignedInAs is set when the browser already has a session: the page then offers
	// to sign out instead.
	SignedInAs   string
	LogoutAction string
	LogoutCSRF   string
}

// serveLogin is GET and POST /oauth/login.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		s.login(w, r)
		return
	}
	returnTo, _ := safeReturnTo(r.URL.Query().Get("return_to"))
	sess, err := s.currentSession(r)
	switch {
	case err == nil && returnTo != "":
		redirect(w, r, returnTo)
		return
	case err == nil:
		s.renderPage(w, http.StatusOK, "login", "Signed in", loginPage{
			SignedInAs: sess.Username, LogoutAction: PathLogout, LogoutCSRF: sess.CSRFToken,
		})
		return
	case !errors.Is(err, errNoSession):
		s.storeFailed(w, "reading session", err)
		return
	}
	s.showLoginForm(w, r, http.StatusOK, returnTo, "", "")
}

// showLoginForm renders the login form with a login CSRF token, reusing the browser's
// current one so that two open login tabs both work.
func (s *Server) showLoginForm(w http.ResponseWriter, r *http.Request, status int, returnTo, username, message string) {
	token := ""
	if c, err := r.Cookie(loginCSRFCookie); err == nil && len(c.Value) == len(NewSecret()) {
		token = c.Value
	} else {
		token = NewSecret()
	}
	s.setCookie(w, r, loginCSRFCookie, token, PathLogin, 0)
	s.renderPage(w, status, "login", "Sign in", loginPage{
		Action: PathLogin, CSRF: token, ReturnTo: returnTo, Username: username, Error: message,
	})
}

// login is POST /oauth/login: check the form's CSRF token, authenticate with the default
// user provider, and start a new session (a new id: any earlier one is deleted).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	form, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	returnTo, _ := safeReturnTo(form.Get("return_to"))
	username := strings.TrimSpace(form.Get("username"))
	cookie, _ := r.Cookie(loginCSRFCookie)
	if cookie == nil || !sameOrigin(r) || !tokenEqual(form.Get(CSRFField), cookie.Value) {
		s.showLoginForm(w, r, http.StatusForbidden, returnTo, username, "The form expired. Please sign in again.")
		return
	}
	password := form.Get("password")
	if username == "" || password == "" {
		s.showLoginForm(w, r, http.StatusUnprocessableEntity, returnTo, username, "Enter your email and password.")
		return
	}
	provider, ok := s.cfg.Providers[DefaultProvider]
	if !ok {
		s.log.Error("the default user provider is not configured", zap.String("provider", DefaultProvider))
		s.renderError(w, http.StatusServiceUnavailable, "Sign-in unavailable", "Signing in is not available right now.", "temporarily_unavailable")
		return
	}
	userID, err := s.authenticateUser(r, DefaultProvider, provider, username, password)
	var throttled *throttledError
	if errors.As(err, &throttled) {
		w.Header().Set("Retry-After", strconv.Itoa(throttled.retryAfterSeconds()))
		s.showLoginForm(w, r, http.StatusTooManyRequests, returnTo, username, "Too many failed attempts. Please wait a minute and try again.")
		return
	}
	if errors.Is(err, ErrInvalidCredentials) {
		s.showLoginForm(w, r, http.StatusUnauthorized, returnTo, username, "The email or password is incorrect.")
		return
	}
	if err != nil {
		s.storeFailed(w, "authenticating user", err)
		return
	}
	if _, err := s.startSession(w, r, userID, DefaultProvider, username); err != nil {
		s.storeFailed(w, "creating session", err)
		return
	}
	s.setCookie(w, r, loginCSRFCookie, "", PathLogin, -1)
	if returnTo == "" {
		returnTo = PathLogin
	}
	redirect(w, r, returnTo)
}

// serveLogout is POST /oauth/logout: with the session's CSRF token, delete the session.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	form, ok := s.readPageForm(w, r)
	if !ok {
		return
	}
	returnTo, ok := safeReturnTo(form.Get("return_to"))
	if !ok {
		returnTo = PathLogin
	}
	sess, err := s.currentSession(r)
	if errors.Is(err, errNoSession) {
		redirect(w, r, returnTo) // already signed out
		return
	}
	if err != nil {
		s.storeFailed(w, "reading session", err)
		return
	}
	if !s.checkCSRF(r, sess) {
		s.renderError(w, http.StatusForbidden, "Request refused", "The request did not come from this site's own page. Go back, reload the page and try again.", "invalid_csrf_token")
		return
	}
	s.endSession(w, r)
	redirect(w, r, returnTo)
}

// storeFailed logs a storage failure and shows a page asking to retry.
func (s *Server) storeFailed(w http.ResponseWriter, what string, err error) {
	s.log.Error(what, zap.Error(err))
	w.Header().Set("Retry-After", "1")
	s.renderError(w, http.StatusServiceUnavailable, "Try again", "The server could not complete the request. Please try again in a moment.", "temporarily_unavailable")
}
