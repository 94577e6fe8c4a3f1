package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// logoutRequest is a validated RP-initiated logout request (OpenID Connect RP-Initiated
// Logout 1.0 §2): who asks, where the browser goes afterwards, and whether the asking
// application proved it signed in the current user.
type logoutRequest struct {
	client *store.Client // nil when the request names no client
	// redirect is the post_logout_redirect_uri, already matched against the client's
	// registered list; empty: this server's own signed-out page.
	redirect string
	state    string
	// hintSubject and hintProvider are the user of a valid id_token_hint.
	hintSubject, hintProvider string
}

// logoutCannotComplete is the heading of the pages that refuse a logout request.
const logoutCannotComplete = "This sign-out request cannot be completed"

// parseLogout validates the parameters of an RP-initiated logout. Every failure is an
// error page, never a redirect: until the URI is matched, it may be anyone's.
func (s *Server) parseLogout(ctx context.Context, r *http.Request, params url.Values) (*logoutRequest, *Error) {
	for name, v := range params {
		if len(v) > 1 {
			return nil, errPage(http.StatusBadRequest, "invalid_request", logoutCannotComplete, "The request repeats "+quoteForError(name)+".")
		}
	}
	req := &logoutRequest{state: params.Get("state")}
	clientID := params.Get("client_id")
	if hint := params.Get("id_token_hint"); hint != "" {
		c, ok := s.parseIDTokenHint(r, hint)
		if !ok {
			return nil, errPage(http.StatusBadRequest, "invalid_request", logoutCannotComplete,
				"The application sent an ID token this server did not issue.")
		}
		if clientID != "" && clientID != c.Audience {
			return nil, errPage(http.StatusBadRequest, "invalid_request", logoutCannotComplete,
				"The ID token was issued to another application than the one asking.")
		}
		clientID, req.hintSubject, req.hintProvider = c.Audience, c.Subject, c.Provider
	}
	if clientID != "" && storableText(clientID) {
		client, err := s.authorizeStore.GetClient(ctx, clientID)
		switch {
		case err == nil && !client.Revoked:
			req.client = client
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return nil, errUnavailable("loading client", err, zap.String("client_id", clientID))
		}
	}
	if uri := params.Get("post_logout_redirect_uri"); uri != "" {
		if req.client == nil {
			return nil, errPage(http.StatusBadRequest, "invalid_request", logoutCannotComplete,
				"The request does not say which application to return to (client_id or id_token_hint is missing or unknown).")
		}
		for _, registered := range req.client.PostLogoutRedirectURIs {
			if registered == uri { // exact, as redirect URIs are matched
				req.redirect = uri
			}
		}
		if req.redirect == "" {
			return nil, errPage(http.StatusBadRequest, "invalid_request", logoutCannotComplete,
				"The address to return to after signing out is not one registered for this application.")
		}
	}
	return req, nil
}

// parseIDTokenHint verifies an id_token_hint: one of this server's ID tokens, for this
// issuer. An expired one is still a good hint (RP-Initiated Logout §2), so exp is not
// checked.
func (s *Server) parseIDTokenHint(r *http.Request, hint string) (idTokenClaims, bool) {
	var c idTokenClaims
	if len(hint) > maxFormBytes {
		return c, false
	}
	payload, err := s.cfg.Keys.VerifyIDToken(hint)
	if err != nil || json.Unmarshal(payload, &c) != nil {
		return c, false
	}
	return c, c.Issuer == s.issuerFor(r) && c.Subject != "" && c.Audience != ""
}

// serveEndSession is GET /oauth/logout, OpenID Connect's end_session_endpoint. A browser
// with no session goes straight back. A signed-in browser is signed out at once when the
// application proves, with an id_token_hint, that it signed in this very user; otherwise
// the person is asked to confirm (a plain link must not sign anyone out: logout CSRF).
func (s *Server) serveEndSession(w http.ResponseWriter, r *http.Request) {
	req, oerr := s.parseLogout(r.Context(), r, r.URL.Query())
	if oerr != nil {
		s.renderError(w, oerr)
		return
	}
	sess, err := s.currentSession(r)
	switch {
	case errors.Is(err, errNoSession):
		s.afterLogout(w, r, req)
		return
	case err != nil:
		s.renderError(w, errUnavailable("reading session", err))
		return
	}
	if hintProvider, _ := s.userProvider(req.hintProvider); req.hintSubject != "" && req.hintSubject == sess.UserID && hintProvider == sess.Provider {
		s.endSession(w, r)
		s.afterLogout(w, r, req)
		return
	}
	page := logoutPage{Action: PathLogout, CSRF: sess.CSRFToken, SignedInAs: sess.Username}
	if req.client != nil {
		page.ClientName = req.client.Name
		page.Params = append(page.Params, formParam{"client_id", req.client.ID})
	}
	if req.redirect != "" {
		page.Params = append(page.Params, formParam{"post_logout_redirect_uri", req.redirect})
	}
	if req.state != "" {
		page.Params = append(page.Params, formParam{"state", req.state})
	}
	var targets []string
	if t := formTarget(req.redirect); t != "" {
		targets = append(targets, t)
	}
	s.renderPage(w, http.StatusOK, "logout", "Sign out", page, targets...)
}

// logoutPage is the data of the logout confirmation page.
type logoutPage struct {
	Action     string
	CSRF       string
	ClientName string
	SignedInAs string
	Params     []formParam
}

// afterLogout sends the browser where a finished logout goes: the application's
// registered post-logout URI with its state, or this server's sign-in page.
func (s *Server) afterLogout(w http.ResponseWriter, r *http.Request, req *logoutRequest) {
	if req.redirect == "" {
		redirect(w, r, PathLogin)
		return
	}
	u, err := url.Parse(req.redirect)
	if err != nil { // registered URIs are validated when the client is made
		s.renderError(w, errPage(http.StatusInternalServerError, "server_error", logoutCannotComplete, "The application's address is malformed."))
		return
	}
	if req.state != "" {
		q := u.Query()
		q.Set("state", req.state)
		u.RawQuery = q.Encode()
	}
	redirect(w, r, u.String())
}

// formTarget is the origin (or scheme, for a private-use URI) a page's form may send the
// browser on to, for its Content-Security-Policy form-action; "" for none.
func formTarget(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || uri == "" {
		return ""
	}
	if u.Host == "" {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}
