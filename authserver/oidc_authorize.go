package authserver

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// maxNonceLen bounds the nonce a client may have echoed in an ID token.
const maxNonceLen = 512

// The prompt values of OpenID Connect Core §3.1.2.1 this server acts on.
const (
	promptNone          = "none"
	promptLogin         = "login"
	promptConsent       = "consent"
	promptSelectAccount = "select_account"
)

// promptValuesSupported is what the metadata lists.
var promptValuesSupported = []string{promptNone, promptLogin, promptConsent, promptSelectAccount}

// signInOptions are the OpenID Connect parameters of an authorization request that say
// how the user is to be signed in and asked (Core §3.1.2.1).
type signInOptions struct {
	nonce string
	// prompt holds the prompt values given; select_account counts as login (this server
	// has one account per browser, so choosing one means signing in again).
	prompt map[string]bool
	// maxAge is the longest time since the user signed in that is still acceptable;
	// negative when the request set none.
	maxAge time.Duration
	// loginHint prefills the login form's username.
	loginHint string
}

// parseSignInOptions reads the OpenID Connect parameters, and refuses the request
// parameters this server does not support (request, registration) with the errors Core
// §3.1.2.6 names for them. request_uri never reaches here: the authorization endpoint
// replaces a request naming one by the pushed request (pushed_authorization.go), and the
// pushed request endpoint refuses it.
func parseSignInOptions(params url.Values) (signInOptions, *Error) {
	o := signInOptions{maxAge: -1, prompt: map[string]bool{}}
	for name, code := range map[string]string{
		"request":      "request_not_supported",
		"registration": "registration_not_supported",
	} {
		if params.Get(name) != "" {
			return o, &Error{Code: code, Description: name + " is not supported", Status: http.StatusBadRequest}
		}
	}
	o.nonce = params.Get("nonce")
	if len(o.nonce) > maxNonceLen {
		return o, errInvalidRequest("nonce is longer than " + strconv.Itoa(maxNonceLen) + " characters")
	}
	for _, p := range strings.Fields(params.Get("prompt")) {
		switch p {
		case promptNone, promptLogin, promptConsent:
			o.prompt[p] = true
		case promptSelectAccount:
			o.prompt[promptLogin] = true
		default:
			return o, errInvalidRequest("prompt value " + quoteForError(p) + " is not supported")
		}
	}
	if o.prompt[promptNone] && len(o.prompt) > 1 {
		return o, errInvalidRequest("prompt=none cannot be combined with other prompt values")
	}
	if v := params.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return o, errInvalidRequest("max_age must be a non-negative number of seconds")
		}
		o.maxAge = time.Duration(n) * time.Second
	}
	o.loginHint = params.Get("login_hint")
	return o, nil
}

// needsLogin reports whether the user must sign in (again) before this request is
// answered: no session, or prompt=login, or a sign-in older than max_age.
func (o signInOptions) needsLogin(sess *store.Session, now time.Time) bool {
	if sess == nil || o.prompt[promptLogin] {
		return true
	}
	return o.maxAge >= 0 && now.Sub(sess.CreatedAt) > o.maxAge
}

// loginRequired is the error a prompt=none request gets when the user would have to sign
// in (Core §3.1.2.6).
func loginRequired() *Error {
	return &Error{Code: "login_required", Description: "the user is not signed in", Status: http.StatusBadRequest}
}

// consentRequired is the error a prompt=none request gets when the user would have to
// approve the client.
func consentRequired() *Error {
	return &Error{Code: "consent_required", Description: "the user has not approved this client for these scopes", Status: http.StatusBadRequest}
}

// loginURL is where a request that needs a sign-in sends the browser: the login form,
// which comes back to the authorization request afterwards. The way back drops prompt=login
// and max_age, which the new sign-in satisfies, so the browser does not loop; forced
// shows the form even to a signed-in browser.
//
// A pushed request (RFC 9126) comes back by its client_id and request_uri alone: params
// holds only those.
func loginURL(params url.Values, providerName string, o signInOptions, forced bool) string {
	q := url.Values{}
	for _, name := range authorizeParams {
		if v := params.Get(name); v != "" {
			q.Set(name, v)
		}
	}
	if o.prompt[promptConsent] {
		q.Set("prompt", promptConsent)
	}
	login := url.Values{"return_to": {PathAuthorize + "?" + q.Encode()}}
	if providerName != DefaultProvider {
		login.Set("provider", providerName)
	}
	if forced {
		login.Set("prompt", promptLogin)
	}
	if o.loginHint != "" {
		login.Set("login_hint", o.loginHint)
	}
	return PathLogin + "?" + login.Encode()
}
