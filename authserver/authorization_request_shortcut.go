package authserver

import (
	"errors"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// PathAuthorizationShortcut is the seeds' convenience route (Anomaly's API module):
// GET /oauth/request?client=ID starts the authorization code flow for that client with its
// one registered redirect URI.
const PathAuthorizationShortcut = "/oauth/request"

// serveAuthorizationShortcut redirects to the authorization endpoint for the client named
// by ?client=, with its only redirect URI and response_type=code; scope and state, when
// given, are passed on. Every check of the authorization endpoint still applies there.
// A client with several redirect URIs, none, or no code grant is refused on a page: this
// route cannot choose for it. A public client is refused too: it must send a PKCE
// challenge, which only the client itself can make.
func (s *Server) serveAuthorizationShortcut(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("client")
	if id == "" || len(q["client"]) > 1 || !storableText(id) {
		s.renderError(w, errPage(http.StatusBadRequest, "invalid_request", cannotComplete, "The request does not say which application is asking (client is missing)."))
		return
	}
	c, err := s.authorizeStore.GetClient(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && c.Revoked):
		s.renderError(w, errPage(http.StatusBadRequest, "invalid_client", cannotComplete, "The application asking for access is not known to this server."))
		return
	case err != nil:
		s.renderError(w, errPage(http.StatusServiceUnavailable, "temporarily_unavailable", cannotComplete,
			"The server could not complete the request. Please try again in a moment.").logged("loading client", err, zap.String("client_id", id)))
		return
	case !c.HasGrant(GrantAuthorizationCode) || len(c.RedirectURIs) != 1:
		s.renderError(w, errPage(http.StatusBadRequest, "unauthorized_client", cannotComplete,
			"This application cannot be started from here: it needs exactly one redirect URI and the authorization code grant."))
		return
	case !c.Confidential():
		s.renderError(w, errPage(http.StatusBadRequest, "invalid_request", cannotComplete,
			"This application must start the sign-in itself (it needs a PKCE challenge)."))
		return
	}
	to := url.Values{"response_type": {"code"}, "client_id": {c.ID}, "redirect_uri": {c.RedirectURIs[0]}}
	for _, name := range []string{"scope", "state"} {
		if v := q.Get(name); v != "" {
			to.Set(name, v)
		}
	}
	redirect(w, r, PathAuthorize+"?"+to.Encode())
}
