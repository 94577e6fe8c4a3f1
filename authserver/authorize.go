package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
)

// authCodeTTL is the life of an authorization code: long enough for a redirect and a
// token request, short enough that a leaked one is soon worthless (RFC 6749 §4.1.2
// recommends at most 10 minutes).
const authCodeTTL = 10 * time.Minute

// Response types of the authorization endpoint.
const (
	responseCode  = "code"
	responseToken = "token"
)

// The authorization request's parameters carried through the consent form and the login's
// way back. A pushed request (RFC 9126) is carried by client_id and request_uri alone.
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method",
	"response_mode", "nonce", "login_hint", "request_uri", paramDPoPJKT}

// s256Challenge is the form of an S256 code challenge: base64url of a SHA-256 digest.
var s256Challenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// authorizeRequest is a validated authorization request (RFC 6749 §4.1.1, §4.2.1).
type authorizeRequest struct {
	client      *store.Client
	redirectURI string
	// redirectGiven is whether the request named redirect_uri; if it did, the token
	// request must name the same one (RFC 6749 §4.1.3).
	redirectGiven bool
	responseType  string
	responseMode  string // modeQuery, modeFragment or modeFormPost (response_mode.go)
	scopes        []string
	state         string
	challenge     string
	method        string
	// dpopJKT is the dpop_jkt parameter (RFC 9449 §10): the thumbprint of the DPoP key the
	// code's exchange must prove; empty when the request named none.
	dpopJKT string
	// signIn holds the OpenID Connect parameters: nonce, prompt, max_age, login_hint.
	signIn signInOptions
	// pushedID is the digest id of the pushed request (RFC 9126) the parameters came
	// from, until the response uses it up; empty for a request sent in the query.
	pushedID string
}

// codeRedirectURI is the redirect URI a code is bound to: the one the request named, or
// "" when it named none and the client's only registered URI was used.
func (req *authorizeRequest) codeRedirectURI() string {
	if req.redirectGiven {
		return req.redirectURI
	}
	return ""
}

// fragment reports whether responses go in the redirect URI's fragment (the implicit
// grant's default, RFC 6749 §4.2.2, or response_mode=fragment) rather than its query.
func (a *authorizeRequest) fragment() bool {
	return a.responseMode == modeFragment || (a.responseMode == "" && a.responseType == responseToken)
}

// cannotComplete is the heading of the pages that refuse an authorization request.
const cannotComplete = "This request cannot be completed"

// parseAuthorize validates an authorization request. Until the client and the redirect
// URI check out, a failure is pageErr, shown as a page: the redirect URI is not (yet)
// known to be the client's, and sending it there would make this server an open
// redirector. After that a failure is redirectErr, to send to the redirect URI (RFC 6749
// §4.1.2.1), and the returned request says where.
func (s *Server) parseAuthorize(ctx context.Context, params url.Values) (req *authorizeRequest, pageErr, redirectErr *Error) {
	single := func(name string) (string, bool) {
		v := params[name]
		return params.Get(name), len(v) <= 1
	}
	clientID, ok1 := single("client_id")
	rawRedirect, ok2 := single("redirect_uri")
	if !ok1 || !ok2 {
		return nil, errPage(http.StatusBadRequest, "invalid_request", cannotComplete, "The request names its client or redirect URI more than once."), nil
	}
	if clientID == "" {
		return nil, errPage(http.StatusBadRequest, "invalid_request", cannotComplete, "The request does not say which application is asking (client_id is missing)."), nil
	}
	client, err := (*store.Client)(nil), store.ErrNotFound
	if storableText(clientID) {
		client, err = s.authorizeStore.GetClient(ctx, clientID)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && client.Revoked) {
		return nil, errPage(http.StatusBadRequest, "invalid_client", cannotComplete, "The application asking for access is not known to this server."), nil
	}
	if err != nil {
		return nil, errPage(http.StatusServiceUnavailable, "temporarily_unavailable", cannotComplete,
			"The server could not complete the request. Please try again in a moment.").logged(
			"loading client", err, zap.String("client_id", clientID)), nil
	}
	req = &authorizeRequest{client: client, redirectGiven: rawRedirect != ""}
	switch {
	case rawRedirect != "":
		for _, registered := range client.RedirectURIs {
			// Exact, but for the port of a loopback IP redirect URI (redirectURIMatches).
			// The code is bound to the URI as given, which the token request must repeat.
			if redirectURIMatches(registered, rawRedirect) {
				req.redirectURI = rawRedirect
				break
			}
		}
	case len(client.RedirectURIs) == 1:
		req.redirectURI = client.RedirectURIs[0] // RFC 6749 §3.1.2.3
	}
	if req.redirectURI == "" {
		return nil, errPage(http.StatusBadRequest, "invalid_request", cannotComplete, "The redirect URI is not one registered for this application, so you cannot be sent back to it."), nil
	}

	// From here on errors go back to the client, with its state.
	req.state = params.Get("state")
	req.responseType = params.Get("response_type")
	for name, v := range params {
		if len(v) > 1 {
			return req, nil, errInvalidRequest("parameter " + quoteForError(name) + " is repeated")
		}
	}
	switch req.responseType {
	case responseCode:
	case responseToken:
		if !s.cfg.ImplicitGrant {
			return req, nil, errUnsupportedResponseType("the implicit grant (response_type=token) is not enabled")
		}
	case "":
		return req, nil, errInvalidRequest("response_type is required")
	default:
		req.responseType = responseCode // answer in the query
		return req, nil, errUnsupportedResponseType("response_type " + quoteForError(params.Get("response_type")) + " is not supported")
	}
	mode, merr := parseResponseMode(params.Get("response_mode"), req.responseType)
	if merr != nil {
		return req, nil, merr
	}
	req.responseMode = mode
	// Each response type is a grant of its own: a client with the code flow does not get
	// tokens by response_type=token (security probe finding 1).
	switch {
	case req.responseType == responseToken && !client.HasGrant(GrantImplicit):
		return req, nil, errUnauthorizedClient("the client may not use the implicit grant")
	case req.responseType == responseCode && !client.HasGrant(GrantAuthorizationCode):
		return req, nil, errUnauthorizedClient("the client may not use the authorization endpoint")
	case req.responseType == responseToken && client.RequireDPoP:
		// A token in the fragment is a bearer token: it would escape require_dpop.
		return req, nil, errUnauthorizedClient("the client must use DPoP (dpop_bound_access_tokens), which the implicit grant cannot")
	case req.responseType == responseToken && client.CertBoundTokens:
		// Nor can a token in the fragment be bound to a certificate: the browser, not the
		// client, fetches it.
		return req, nil, errUnauthorizedClient("the client's tokens are bound to its TLS client certificate, which the implicit grant cannot do")
	}
	granted, oerr := s.resolveScopes(params.Get("scope"), false)
	if oerr != nil {
		return req, nil, oerr
	}
	req.scopes = granted
	if req.signIn, oerr = parseSignInOptions(params); oerr != nil {
		return req, nil, oerr
	}
	if req.responseType == responseCode {
		// PKCE (RFC 7636, RFC 9700 §2.1.1): S256 only; required of public clients.
		req.challenge, req.method = params.Get("code_challenge"), params.Get("code_challenge_method")
		switch {
		case req.challenge == "" && req.method != "":
			return req, nil, errInvalidRequest("code_challenge_method was sent without code_challenge")
		case req.challenge == "" && !client.Confidential():
			return req, nil, errInvalidRequest("a public client must use PKCE: send code_challenge with code_challenge_method=S256")
		case req.challenge != "" && req.method != "S256":
			return req, nil, errInvalidRequest("code_challenge_method must be S256 (plain is not supported)")
		case req.challenge != "" && !s256Challenge.MatchString(req.challenge):
			return req, nil, errInvalidRequest("code_challenge is not a base64url SHA-256 digest")
		}
		req.dpopJKT = params.Get(paramDPoPJKT)
		if req.dpopJKT != "" && !validJKT(req.dpopJKT) {
			return req, nil, errInvalidRequest("dpop_jkt is not a base64url JWK SHA-256 thumbprint")
		}
	}
	return req, nil, nil
}

// consentPage is the data of the consent page.
type consentPage struct {
	ClientName   string
	Scopes       []scopes.Definition
	RedirectHost string
	Action       string
	CSRF         string
	Params       []formParam
	SignedInAs   string
	LogoutAction string
	ReturnTo     string
}

// formParam is one hidden field of the consent form.
type formParam struct{ Name, Value string }

// serveAuthorize is GET /oauth/authorize (the request, then login and consent) and POST
// /oauth/authorize (the consent form's answer, which carries the request again and is
// validated again in full).
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	params := r.URL.Query()
	if r.Method == http.MethodPost {
		form, perr := readPageForm(r)
		if perr != nil {
			s.renderError(w, perr)
			return
		}
		params = form
	}
	// carried is what the login's way back and the consent form carry: the request, or
	// for a pushed one its client_id and request_uri only.
	carried := params
	params, pushed, perr := s.resolvePushedRequest(r, params)
	if perr != nil {
		s.renderError(w, perr)
		return
	}
	if pushed != nil {
		decision := carried.Get("decision")
		carried = url.Values{"client_id": {pushed.ClientID}, "request_uri": {carried.Get("request_uri")}}
		// The consent form's answer is the person's, never the client's pushed parameters.
		params.Del("decision")
		if r.Method == http.MethodPost {
			params.Set("decision", decision)
		}
	}
	req, perr, oerr := s.parseAuthorize(r.Context(), params)
	if perr != nil {
		s.renderError(w, perr)
		return
	}
	if pushed != nil {
		req.pushedID = pushed.ID
	}
	if oerr != nil {
		s.redirectError(w, r, req, oerr)
		return
	}
	if req.client.RequirePAR && pushed == nil {
		// The client is known and the redirect URI its own, so the refusal goes back to it.
		s.redirectError(w, r, req, errInvalidRequest("this client must push its authorization requests (RFC 9126) and send a request_uri"))
		return
	}
	// Users sign in with the provider the client is bound to (Passport's provider
	// clients); a session of another provider's user does not count here.
	providerName, _, oerr := s.clientProvider(req.client)
	if oerr != nil {
		s.redirectError(w, r, req, oerr)
		return
	}
	sess, err := s.currentSession(r)
	switch {
	case errors.Is(err, errNoSession) || (err == nil && sess.Provider != providerName):
		sess = nil
	case err != nil:
		s.renderError(w, errUnavailable("reading session", err))
		return
	}
	if pushed != nil && sess != nil && !sess.CreatedAt.Before(pushed.CreatedAt) {
		// A pushed request comes back from the login with its parameters unchanged, so a
		// sign-in made since the push is the one prompt=login and max_age asked for
		// (loginURL drops them from a request in the query instead); else it would loop.
		delete(req.signIn.prompt, promptLogin)
		req.signIn.maxAge = -1
	}
	if r.Method == http.MethodPost {
		// The consent form's answer: the sign-in it was shown under is what counts.
		if sess == nil {
			redirect(w, r, loginURL(carried, providerName, req.signIn, false))
			return
		}
		s.decide(w, r, req, sess, params)
		return
	}
	if req.signIn.needsLogin(sess, s.now()) {
		if req.signIn.prompt[promptNone] {
			s.redirectError(w, r, req, loginRequired())
			return
		}
		// The request comes back here after login.
		redirect(w, r, loginURL(carried, providerName, req.signIn, sess != nil))
		return
	}
	// An implicit request asks every time: it hands a token to the browser, and a consent
	// remembered from the code flow must not do that without a prompt. prompt=consent
	// asks even a first-party client's user.
	ask := req.responseType == responseToken || req.signIn.prompt[promptConsent]
	if !ask && !req.client.FirstParty {
		consent, err := s.authorizeStore.GetConsent(r.Context(), sess.Provider, sess.UserID, req.client.ID)
		switch {
		case err != nil && !errors.Is(err, store.ErrNotFound):
			s.renderError(w, errUnavailable("reading consent", err))
			return
		case err != nil || !scopes.HasAll(consent.Scopes, req.scopes):
			ask = true // not approved before for these scopes
		}
	}
	switch {
	case !ask:
		s.grant(w, r, req, sess)
	case req.signIn.prompt[promptNone]:
		s.redirectError(w, r, req, consentRequired())
	default:
		s.showConsent(w, r, req, sess, carried)
	}
}

// showConsent renders the consent screen: the client's name, what each scope lets it do,
// and where the answer goes.
func (s *Server) showConsent(w http.ResponseWriter, r *http.Request, req *authorizeRequest, sess *store.Session, params url.Values) {
	page := consentPage{
		ClientName:   req.client.Name,
		Action:       PathAuthorize,
		CSRF:         sess.CSRFToken,
		SignedInAs:   sess.Username,
		LogoutAction: PathLogout,
		ReturnTo:     r.URL.RequestURI(),
	}
	if page.ClientName == "" {
		page.ClientName = req.client.ID
	}
	descriptions := map[string]string{}
	for _, d := range s.cfg.Scopes.Definitions() {
		descriptions[d.Name] = d.Description
	}
	for _, sc := range req.scopes {
		d := descriptions[sc]
		if d == "" {
			d = sc
		}
		page.Scopes = append(page.Scopes, scopes.Definition{Name: sc, Description: d})
	}
	for _, name := range authorizeParams {
		if v := params.Get(name); v != "" {
			page.Params = append(page.Params, formParam{name, v})
		}
	}
	if u, err := url.Parse(req.redirectURI); err == nil {
		page.RedirectHost = u.Host
		if u.Host == "" {
			page.RedirectHost = u.Scheme + ":"
		}
	}
	// The approval's redirect to the client must be allowed by form-action.
	target := formTarget(req.redirectURI)
	s.renderPage(w, http.StatusOK, "consent", "Authorize "+page.ClientName, page, target)
}

// decide handles the consent form's answer: it must carry the session's CSRF token, so a
// third-party page cannot approve on the user's behalf.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, req *authorizeRequest, sess *store.Session, params url.Values) {
	if !s.checkCSRF(r, sess) {
		s.renderError(w, errPage(http.StatusForbidden, "invalid_csrf_token", "Request refused",
			"The answer did not come from this site's own consent page. Go back to the application and start again."))
		return
	}
	switch params.Get("decision") {
	case "approve":
	case "deny":
		s.redirectError(w, r, req, errAccessDenied())
		return
	default:
		s.renderError(w, errPage(http.StatusBadRequest, "invalid_request", "Bad request", "The answer was neither approve nor deny."))
		return
	}
	if req.responseType == responseToken {
		// Approved for this response only: nothing is remembered (see serveAuthorize).
		s.grant(w, r, req, sess)
		return
	}
	ctx := r.Context()
	approved := req.scopes
	if prev, err := s.authorizeStore.GetConsent(ctx, sess.Provider, sess.UserID, req.client.ID); err == nil {
		approved = union(prev.Scopes, req.scopes)
	} else if !errors.Is(err, store.ErrNotFound) {
		s.renderError(w, errUnavailable("reading consent", err))
		return
	}
	now := s.now().UTC()
	if err := s.authorizeStore.SaveConsent(ctx, &store.Consent{
		Provider: sess.Provider, UserID: sess.UserID, ClientID: req.client.ID,
		Scopes: approved, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		s.renderError(w, errUnavailable("saving consent", err))
		return
	}
	s.grant(w, r, req, sess)
}

// grant answers an approved request: a code (RFC 6749 §4.1.2) or, for the implicit grant,
// an access token in the fragment (§4.2.2, never with a refresh token).
func (s *Server) grant(w http.ResponseWriter, r *http.Request, req *authorizeRequest, sess *store.Session) {
	if !s.usePushedRequest(w, r, req) {
		return
	}
	ctx := r.Context()
	out := url.Values{}
	if req.responseType == responseToken {
		tok, oerr := s.record(ctx, s.issuerFor(r), grantSubject{
			client: req.client, userID: sess.UserID, provider: sess.Provider, scopes: req.scopes,
		}, s.cfg.AccessTokenTTL, false)
		if oerr != nil {
			s.redirectError(w, r, req, oerr)
			return
		}
		out.Set("access_token", tok.response.AccessToken)
		out.Set("token_type", tok.response.TokenType)
		out.Set("expires_in", itoa(tok.response.ExpiresIn))
		out.Set("scope", tok.response.Scope)
	} else {
		value := NewSecret()
		now := s.now().UTC().Truncate(time.Microsecond)
		code := &store.AuthCode{
			ID:       Digest(value),
			ClientID: req.client.ID,
			UserID:   sess.UserID,
			Provider: sess.Provider,
			Scopes:   req.scopes,
			// Empty when the request relied on the one registered URI: the token request
			// may then omit it too.
			RedirectURI:         req.codeRedirectURI(),
			CodeChallenge:       req.challenge,
			CodeChallengeMethod: req.method,
			Nonce:               req.signIn.nonce,
			AuthTime:            sess.CreatedAt,
			DPoPJKT:             req.dpopJKT,
			CreatedAt:           now,
			ExpiresAt:           now.Add(authCodeTTL),
		}
		if err := s.authorizeStore.CreateAuthCode(ctx, code); err != nil {
			s.redirectError(w, r, req, errUnavailable("recording authorization code", err, zap.String("client_id", req.client.ID)))
			return
		}
		out.Set("code", value)
	}
	s.redirectBack(w, r, req, out)
}

// redirectError sends an error to the client's verified redirect URI (RFC 6749
// §4.1.2.1, §4.2.2.1): its code and description, nothing else of it.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, req *authorizeRequest, e *Error) {
	if !s.usePushedRequest(w, r, req) {
		return
	}
	s.logFailure(e)
	out := url.Values{"error": {e.Code}}
	if e.Description != "" {
		out.Set("error_description", e.Description)
	}
	s.redirectBack(w, r, req, out)
}

// redirectBack sends the browser to the verified redirect URI with out, the state and
// the issuer (RFC 9207, against mix-up attacks), in the query, the fragment or a form
// post, as the response mode says. Parameters already in the registered URI's query are
// kept.
func (s *Server) redirectBack(w http.ResponseWriter, r *http.Request, req *authorizeRequest, out url.Values) {
	if req.state != "" {
		out.Set("state", req.state)
	}
	out.Set("iss", s.issuerFor(r))
	u, err := url.Parse(req.redirectURI)
	if err != nil { // registered URIs are validated when the client is made
		s.renderError(w, errPage(http.StatusInternalServerError, "server_error", cannotComplete, "The application's redirect URI is malformed."))
		return
	}
	if req.responseMode == modeFormPost {
		writeFormPost(w, u, out)
		return
	}
	if req.fragment() {
		u.Fragment, u.RawFragment = "", ""
		redirect(w, r, u.String()+"#"+out.Encode())
		return
	}
	q := u.Query()
	for k, v := range out {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	redirect(w, r, u.String())
}

// union returns a followed by the elements of b not in a.
func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, x := range b {
		found := false
		for _, y := range a {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			out = append(out, x)
		}
	}
	return out
}
