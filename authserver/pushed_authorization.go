package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// requestURIPrefix begins every request_uri this server hands out (RFC 9126 §2.2); the
// rest is a random secret whose digest names the stored request.
const requestURIPrefix = "urn:ietf:params:oauth:request_uri:"

// pushedRequestTTL is the life of a request_uri (RFC 9126 §2.2 suggests 5 to 600
// seconds). It covers the whole browser part: the redirect that follows the push, the
// sign-in and the consent screen, until the response is produced; a request answered
// later is refused and the client starts again.
const pushedRequestTTL = 60 * time.Second

// pushedCredentialParams are the client authentication parameters of a push: they
// authenticate it and are not part of the authorization request that is stored.
var pushedCredentialParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// pushedAuthorizationResponse is RFC 9126 §2.2's answer.
type pushedAuthorizationResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int64  `json:"expires_in"`
}

// servePushedAuthorization is POST /oauth/par (RFC 9126 §2): the client authenticates as
// at the token endpoint and pushes an authorization request, which is validated as the
// authorization endpoint would and stored; the answer names it by a request_uri the
// client then sends to /oauth/authorize. Errors are RFC 6749 §5.2 JSON, never redirects:
// the client, not a browser, is the caller.
func (s *Server) servePushedAuthorization(w http.ResponseWriter, r *http.Request) {
	resp, oerr := s.pushAuthorization(r)
	s.setDPoPNonce(w, r, oerr)
	if oerr != nil {
		s.writeError(w, oerr)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) pushAuthorization(r *http.Request) (*pushedAuthorizationResponse, *Error) {
	// The token endpoint's rate limits: a push costs a store write, as a token request does.
	form, client, oerr := s.clientRequest(r)
	if oerr != nil {
		return nil, oerr
	}
	ctx := r.Context()
	// RFC 9126 §2.1: a pushed request must not itself point at another one; and request
	// objects (RFC 9101) are not supported here, so one is refused rather than ignored.
	for _, name := range []string{"request_uri", "request"} {
		if _, ok := form[name]; ok {
			return nil, errInvalidRequest(name + " is not allowed in a pushed authorization request")
		}
	}
	params := url.Values{}
	for name, v := range form {
		params[name] = v
	}
	for _, name := range pushedCredentialParams {
		delete(params, name)
	}
	// The client_id in the request is the authenticated client (readClientCredentials
	// refuses a form client_id that differs from Basic's), and is set when Basic alone
	// named it.
	params.Set("client_id", client.ID)
	// RFC 9449 §10.1: a DPoP proof with the push binds the code to its key.
	if oerr := s.bindPushedDPoP(r, client, params); oerr != nil {
		return nil, oerr
	}
	req, pageErr, oerr := s.parseAuthorize(ctx, params)
	if pageErr != nil {
		return nil, pageErr
	}
	if oerr != nil {
		if oerr.Status == 0 {
			oerr.Status = http.StatusBadRequest
		}
		return nil, oerr
	}
	if !req.redirectGiven && len(req.client.RedirectURIs) != 1 {
		// parseAuthorize already refuses this; kept so a change there cannot store a
		// request without a known redirect URI.
		return nil, errInvalidRequest("redirect_uri is required")
	}

	secret := NewSecret()
	now := s.now().UTC().Truncate(time.Microsecond)
	rec := &store.PushedAuthorizationRequest{
		ID:        Digest(secret),
		ClientID:  client.ID,
		Params:    params.Encode(),
		CreatedAt: now,
		ExpiresAt: now.Add(pushedRequestTTL),
	}
	if err := s.parStore.CreatePushedAuthorizationRequest(ctx, rec); err != nil {
		return nil, errUnavailable("recording pushed authorization request", err, zap.String("client_id", client.ID))
	}
	return &pushedAuthorizationResponse{
		RequestURI: requestURIPrefix + secret,
		ExpiresIn:  int64(pushedRequestTTL / time.Second),
	}, nil
}

// errBadRequestURI is the page shown for a request_uri that cannot be used. It is a page,
// not a redirect: the redirect URI is in the pushed request, which is not (or no longer)
// known to be this client's.
func errBadRequestURI(message string) *Error {
	return errPage(http.StatusBadRequest, "invalid_request_uri", cannotComplete, message)
}

// resolvePushedRequest turns an authorization request that names a request_uri into the
// pushed request's parameters, which replace the query; other parameters besides
// client_id and request_uri are ignored (RFC 9126 §4). A request without request_uri is
// returned as it is, with a nil pushed request. The request_uri must name an unused,
// unexpired request of the client the request names; anything else is a page error.
func (s *Server) resolvePushedRequest(r *http.Request, params url.Values) (url.Values, *store.PushedAuthorizationRequest, *Error) {
	if _, ok := params["request_uri"]; !ok {
		return params, nil, nil
	}
	if len(params["request_uri"]) > 1 || len(params["client_id"]) > 1 {
		return nil, nil, errPage(http.StatusBadRequest, "invalid_request", cannotComplete, "The request names its client or request URI more than once.")
	}
	clientID := params.Get("client_id")
	if clientID == "" {
		return nil, nil, errPage(http.StatusBadRequest, "invalid_request", cannotComplete, "The request does not say which application is asking (client_id is missing).")
	}
	unknown := errBadRequestURI("The request URI is not one this server issued to this application. Go back to the application and start again.")
	secret, ok := strings.CutPrefix(params.Get("request_uri"), requestURIPrefix)
	if !ok || secret == "" || !storableText(secret) {
		return nil, nil, unknown
	}
	p, err := s.authorizeStore.GetPushedAuthorizationRequest(r.Context(), Digest(secret))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil, unknown
	case err != nil:
		return nil, nil, errUnavailable("loading pushed authorization request", err, zap.String("client_id", clientID))
	case p.ClientID != clientID:
		// Another client's request: as unknown as a missing one, and never redirected,
		// or a client could send a browser to another client's redirect URI.
		return nil, nil, unknown
	case p.Used || !s.now().Before(p.ExpiresAt):
		return nil, nil, errBadRequestURI("This authorization request has expired or was already answered. Go back to the application and start again.")
	}
	stored, err := url.ParseQuery(p.Params)
	if err != nil {
		return nil, nil, errPage(http.StatusInternalServerError, "server_error", cannotComplete,
			"The stored authorization request is unreadable.").logged("parsing pushed authorization request", err, zap.String("client_id", clientID))
	}
	return stored, p, nil
}

// usePushedRequest marks the pushed request behind req used, as its authorization
// response (a code, a token or an error for the redirect URI) is about to be produced:
// of two answers racing with one request_uri, only the first is sent. It reports whether
// the response may go ahead; if not, it has shown an error page. Requests that were not
// pushed go ahead at once.
func (s *Server) usePushedRequest(w http.ResponseWriter, r *http.Request, req *authorizeRequest) bool {
	if req.pushedID == "" {
		return true
	}
	err := s.authorizeStore.UsePushedAuthorizationRequest(r.Context(), req.pushedID, req.client.ID, s.now().UTC())
	switch {
	case err == nil:
		req.pushedID = "" // used: an error after this (a failed code write) is sent as is
		return true
	case errors.Is(err, store.ErrAlreadyUsed) || errors.Is(err, store.ErrNotFound):
		s.renderError(w, errBadRequestURI("This authorization request has expired or was already answered. Go back to the application and start again."))
	default:
		s.renderError(w, errUnavailable("using pushed authorization request", err, zap.String("client_id", req.client.ID)))
	}
	return false
}
