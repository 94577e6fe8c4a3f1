package authserver

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
)

// First-party cookie tokens: the equivalent of Laravel Passport's CreateFreshApiToken.
// A logged-in browser gets a short-lived access token in an HttpOnly cookie, so the
// site's own JavaScript can call APIs behind oauth_guard (with its `cookie` option)
// without ever holding a token. The token carries a random csrf claim, also set in the
// readable XSRF-TOKEN cookie; the guard accepts the cookie only when a request repeats
// that value in an X-XSRF-TOKEN or X-CSRF-TOKEN header, which another site cannot do.

// XSRFCookie is the readable cookie holding a cookie token's csrf value; axios and
// Angular copy it into the X-XSRF-TOKEN header by themselves.
const XSRFCookie = "XSRF-TOKEN"

// grantFirstPartyCookie labels cookie tokens in the tokens-issued metric.
const grantFirstPartyCookie = "first_party_cookie"

// cookieTokenTTL is the lifetime of a first-party cookie token; the page asks for a
// fresh one before it runs out.
const cookieTokenTTL = 10 * time.Minute

// cookieToken is a minted first-party cookie token.
type cookieToken struct {
	jwt, csrf string
	expires   time.Time
}

// issueCookieToken issues a first-party cookie token for a user: every scope (`*`, as
// Passport's TransientToken allows everything the user may do), through the personal
// access client of the user's provider, recorded without a name so it is told apart
// from the user's personal access tokens and can still be revoked and introspected.
func (s *Server) issueCookieToken(ctx context.Context, issuer, provider, userID string) (*cookieToken, error) {
	client, err := s.personalAccessClient(ctx, provider)
	if err != nil {
		return nil, err
	}
	csrf := NewSecret()
	ttl := min(cookieTokenTTL, s.cfg.AccessTokenTTL)
	tok, oerr := s.record(ctx, issuer, grantSubject{client: client, userID: userID, provider: provider,
		scopes: []string{scopes.Wildcard}, csrf: csrf, grant: grantFirstPartyCookie}, ttl, false)
	if oerr != nil {
		return nil, oerr
	}
	return &cookieToken{jwt: tok.response.AccessToken, csrf: csrf, expires: tok.access.ExpiresAt}, nil
}

// PathFreshAPIToken answers a logged-in browser with a new first-party cookie token,
// when Config.FreshAPITokenCookie names the cookie.
const PathFreshAPIToken = "/oauth/fresh-api-token"

// serveFreshAPIToken is GET /oauth/fresh-api-token: 204 with the token cookie and its
// XSRF-TOKEN cookie for a logged-in session, 401 without one. A request another site
// makes (Sec-Fetch-Site: cross-site) is refused: it could only make the browser collect
// cookies it cannot read, but there is no reason to mint tokens for it.
func (s *Server) serveFreshAPIToken(w http.ResponseWriter, r *http.Request) {
	if oerr := s.freshAPIToken(w, r); oerr != nil {
		s.writeAPIError(w, oerr)
	}
}

// freshAPIToken sets the cookies and answers 204, or returns the error to answer, in
// the JSON API's shape.
func (s *Server) freshAPIToken(w http.ResponseWriter, r *http.Request) *Error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return errAPI(http.StatusForbidden, "cross_site_request", "the first-party token is only for this site's own pages")
	}
	sess, err := s.currentSession(r)
	if errors.Is(err, errNoSession) {
		return errUnauthenticated()
	}
	if err != nil {
		return errUnavailable("reading session", err)
	}
	if err := s.setFreshAPIToken(w, r, sess); err != nil {
		var oerr *Error
		if errors.As(err, &oerr) {
			return oerr // an outage while recording the token, logged where it is answered
		}
		return errUnavailable("issuing the first-party cookie token", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setFreshAPIToken issues a cookie token for the session's user and sets its two
// cookies, for the whole site (Path=/) since the APIs are elsewhere on it. Their names
// stay as configured: XSRF-TOKEN is the name axios and Angular read, and the token
// cookie's name is the operator's (the guard reads the same name). Both are set Secure,
// Path=/ and without Domain, so an operator who wants a sibling subdomain unable to
// plant them can name the token cookie "__Host-..." (a planted XSRF-TOKEN alone cannot
// pass, as it must match the csrf claim inside the token).
func (s *Server) setFreshAPIToken(w http.ResponseWriter, r *http.Request, sess *store.Session) error {
	tok, err := s.issueCookieToken(r.Context(), s.issuerFor(r), sess.Provider, sess.UserID)
	if err != nil {
		return err
	}
	secure := s.secureRequest(r)
	maxAge := int(tok.expires.Sub(s.now()) / time.Second)
	if maxAge <= 0 {
		maxAge = 1
	}
	for _, c := range []*http.Cookie{
		{Name: s.cfg.FreshAPITokenCookie, Value: tok.jwt, HttpOnly: true},
		{Name: XSRFCookie, Value: tok.csrf}, // read by the page's JavaScript
	} {
		c.Path, c.MaxAge, c.Secure, c.SameSite = "/", maxAge, secure, http.SameSiteLaxMode
		http.SetCookie(w, c)
	}
	return nil
}
