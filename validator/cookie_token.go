package validator

import (
	"crypto/subtle"
	"net/http"
)

// First-party cookie tokens, the equivalent of Laravel Passport's CreateFreshApiToken:
// the authorization server puts a short-lived access token in an HttpOnly cookie of a
// logged-in browser, with a random value in its `csrf` claim that it also sets in the
// readable XSRF-TOKEN cookie. The site's own JavaScript cannot read the token but sends
// the cookie along, with the XSRF-TOKEN value in an X-XSRF-TOKEN (or X-CSRF-TOKEN)
// header, as axios and Angular do by themselves. Another site can make the browser send
// the cookie, but cannot read XSRF-TOKEN, so its forged requests lack the header.

// Headers that may carry the cookie token's CSRF value.
const (
	headerCSRF = "X-Csrf-Token"
	headerXSRF = "X-Xsrf-Token"
)

// requestToken returns the request's token (Bearer or DPoP scheme; dpopScheme says
// which) or, when cookie names a cookie and the request has no Authorization header at
// all, the cookie's value; fromCookie says so, so the caller checks the CSRF header of a
// cookie token.
func requestToken(r *http.Request, cookie string) (token string, dpopScheme, fromCookie bool, err error) {
	token, dpopScheme, err = ExtractToken(r)
	if err == nil || cookie == "" || len(r.Header["Authorization"]) != 0 {
		return token, dpopScheme, false, err
	}
	c, cerr := r.Cookie(cookie)
	if cerr != nil || c.Value == "" {
		return "", false, false, err
	}
	return c.Value, false, true, nil
}

// cookieCSRFMatches reports whether a cookie token's request carries the token's csrf
// claim in a CSRF header, compared in constant time. A token without the claim (an
// ordinary access token planted in the cookie) never matches. A cached identity holds no
// claims, so the claim is read from the token (verified when it was cached).
func cookieCSRFMatches(r *http.Request, id *Identity, token string) bool {
	want, ok := id.ClaimsFor(token).Get("csrf")
	if !ok || want == "" {
		return false
	}
	got := r.Header.Get(headerCSRF)
	if got == "" {
		got = r.Header.Get(headerXSRF)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
