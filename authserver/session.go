package authserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Browser sessions. A session is a row in the store (so any node serves the next
// request) named by the SHA-256 digest of a 256-bit random cookie value; the cookie is
// HttpOnly, SameSite=Lax, scoped to /oauth, and Secure when served over TLS. Every
// state-changing request of a session must echo the session's CSRF token, in the hidden
// _csrf field of an HTML form or in the X-CSRF-TOKEN header of a JSON call.
//
// The session cookie keeps its plain name and does not take the "__Host-" prefix the
// login CSRF cookie takes (login.go): the prefix demands Path=/, which would send the
// session to every application on the host, not just to /oauth. A sibling subdomain can
// still plant a session cookie for the parent domain, but only one naming a session it
// owns (session fixation onto the attacker's own account); login always starts a new
// session id (TestPlantedSessionCookieIsNeverAdopted), and the login form it needs to
// sign the victim in is guarded by the __Host- CSRF cookie.
const (
	// SessionCookie is the name of the session cookie.
	SessionCookie = "oauth_session"
	// CSRFHeader is the header a JSON call sends the session's CSRF token in.
	CSRFHeader = "X-CSRF-TOKEN"
	// CSRFField is the form field an HTML form sends the session's CSRF token in.
	CSRFField = "_csrf"
	// xsrfHeader is accepted like CSRFHeader: the name Laravel's and Angular's HTTP
	// clients use.
	xsrfHeader = "X-XSRF-TOKEN"
	// cookiePath scopes the cookies to the server's own endpoints.
	cookiePath = "/oauth"
	// sessionMaxAge bounds a session's life however active it is; SessionTTL is the idle
	// limit within it.
	sessionMaxAge = 24 * time.Hour
	// sessionTouchEvery limits the store writes an active session causes: its expiry is
	// moved at most once a minute.
	sessionTouchEvery = time.Minute
)

// errNoSession is returned by currentSession when the request has no valid session.
var errNoSession = errors.New("no valid session")

// currentSession returns the request's logged-in session. It returns errNoSession when
// there is no session cookie or it names no live session; any other error means the
// store failed. Using a session moves its idle expiry (at most once a minute).
func (s *Server) currentSession(r *http.Request) (*store.Session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, errNoSession
	}
	ctx := r.Context()
	sess, err := s.sessionStore.GetSession(ctx, Digest(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if !now.Before(sess.ExpiresAt) {
		return nil, errNoSession
	}
	sess.CSRFToken = sessionCSRF(c.Value, sess.CSRFToken)
	if now.Sub(sess.LastSeenAt) >= sessionTouchEvery {
		expires := s.sessionExpiry(sess.CreatedAt, now)
		if err := s.sessionStore.TouchSession(ctx, sess.ID, now, expires); err != nil && !errors.Is(err, store.ErrNotFound) {
			// The session stays valid until its old expiry; failing the request for a
			// missed bookkeeping write would be worse.
			s.log.Warn("extending session", zap.Error(err))
		} else {
			sess.LastSeenAt, sess.ExpiresAt = now, expires
		}
	}
	return sess, nil
}

// sessionExpiry is when a session created at created and used at now expires: after
// SessionTTL of idleness, and never later than sessionMaxAge after it began.
func (s *Server) sessionExpiry(created, now time.Time) time.Time {
	idle := now.Add(s.cfg.SessionTTL)
	if limit := created.Add(max(sessionMaxAge, s.cfg.SessionTTL)); idle.After(limit) {
		return limit
	}
	return idle
}

// startSession logs a user in: it deletes the request's current session, if any, and
// creates a new one with a new id and CSRF token (the id is rotated at every login, so a
// session id planted before login is worthless after it), and sets the cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, userID, provider, username string) (*store.Session, error) {
	s.dropSession(r)
	value := NewSecret()
	now := s.now().UTC().Truncate(time.Microsecond)
	sess := &store.Session{
		ID:         Digest(value),
		UserID:     userID,
		Provider:   provider,
		Username:   username,
		CSRFToken:  Digest(deriveCSRF(value)), // stored hashed; the caller gets the token
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  s.sessionExpiry(now, now),
	}
	if err := s.sessionStore.CreateSession(r.Context(), sess); err != nil {
		return nil, err
	}
	sess.CSRFToken = deriveCSRF(value)
	s.setCookie(w, r, SessionCookie, value, cookiePath, 0)
	return sess, nil
}

// deriveCSRF is the CSRF token of the session whose cookie holds value. Deriving it from
// the cookie value, which the store never holds (only its digest), means the store keeps
// the token only as a digest too: a copy of the sessions table gives neither.
func deriveCSRF(value string) string {
	sum := sha256.Sum256([]byte("caddy-oauth session csrf\x00" + value))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sessionCSRF returns the CSRF token of a session loaded by its cookie value from its
// stored form: the digest of deriveCSRF(value), or, for a session stored before tokens
// were hashed, the token itself (a digest is 64 hex characters, a token 43 base64url
// ones), kept until that session ends. "" (which nothing matches) if they disagree.
func sessionCSRF(value, stored string) string {
	if len(stored) != 2*sha256.Size {
		return stored
	}
	token := deriveCSRF(value)
	if !tokenEqual(Digest(token), stored) {
		return ""
	}
	return token
}

// endSession logs out: it deletes the request's session from the store and clears the
// cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	s.dropSession(r)
	s.setCookie(w, r, SessionCookie, "", cookiePath, -1)
}

// dropSession deletes the session the request's cookie names, if any.
func (s *Server) dropSession(r *http.Request) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return
	}
	if err := s.sessionStore.DeleteSession(r.Context(), Digest(c.Value)); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("deleting session", zap.Error(err))
	}
}

// checkCSRF reports whether a state-changing request of sess carries its CSRF token, in
// the X-CSRF-TOKEN (or X-XSRF-TOKEN) header or else the _csrf form field (the form must
// be parsed already), and, when the browser names the request's origin, comes from this
// server's own origin. The token is compared in constant time.
func (s *Server) checkCSRF(r *http.Request, sess *store.Session) bool {
	if sess == nil || sess.CSRFToken == "" || !sameOrigin(r) {
		return false
	}
	return tokenEqual(presentedCSRF(r), sess.CSRFToken)
}

// presentedCSRF returns the CSRF token a request carries: a header for JSON calls, the
// form field for HTML forms.
func presentedCSRF(r *http.Request) string {
	if v := r.Header.Get(CSRFHeader); v != "" {
		return v
	}
	if v := r.Header.Get(xsrfHeader); v != "" {
		return v
	}
	if r.PostForm != nil {
		return r.PostForm.Get(CSRFField)
	}
	return ""
}

// tokenEqual compares a presented token with the expected one in constant time; an empty
// presented token never matches.
func tokenEqual(presented, want string) bool {
	return presented != "" && want != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(want)) == 1
}

// sameOrigin reports whether a request's Origin header, when the browser sent one, names
// the host the request was sent to. Browsers send Origin with every cross-origin POST, so
// this refuses cross-site form posts even before the token is checked. A request without
// Origin (an older browser, a non-browser client) is left to the token check.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // includes "null": a sandboxed or privacy-sensitive context
	}
	return strings.EqualFold(u.Host, r.Host)
}

// secureRequest reports whether the cookies set in answer to r must be Secure: r came
// over TLS, or the configured issuer is https. The second case is a TLS-terminating proxy
// in front of Caddy, which then sees plain http: the operator must configure an https
// issuer there (README, `issuer`). X-Forwarded-Proto is deliberately not read here: this
// package cannot tell whether the request came through a trusted proxy.
func (s *Server) secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.cfg.Issuer, "https://")
}

// setCookie sets an HttpOnly, SameSite=Lax cookie, Secure when secureRequest says so.
// maxAge < 0 deletes it; 0 makes it a browser-session cookie, as the server-side expiry
// is what counts.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.secureRequest(r),
		SameSite: http.SameSiteLaxMode,
	})
}
