package authserver

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"
)

// RedirectURIPolicy says which redirect URIs a client may register. There are two on
// purpose, because two kinds of people register clients: the operator, who runs the
// server and is trusted with its configuration, and end users, who register their own
// clients through the JSON API and are not.
//
// Both refuse what is never safe: a URI that is not absolute, has a fragment (RFC 6749
// §3.1.2), carries a user part ("https://bank.example@evil.example/" reads as the bank on
// the consent screen), is an http(s) URI without a host name, contains a space or
// control character (URIs are compared byte for byte and shown on the consent screen),
// or uses a scheme that runs code or reads local files in a browser (javascript:, data:,
// vbscript:, file:, blob:, in any case).
type RedirectURIPolicy int

const (
	// StrictRedirectURIs is the policy for end users (POST and PUT /oauth/clients). On top
	// of what both policies refuse it follows RFC 9700 §2.1 and RFC 8252: https; http only
	// to a loopback host (a native app's local listener); otherwise only a private-use
	// scheme in reverse-domain form (com.example.app:/cb). It also refuses URIs longer
	// than 2000 bytes and Unicode spaces and control characters. It is the zero value, so
	// a policy left unset is the safe one.
	StrictRedirectURIs RedirectURIPolicy = iota

	// OperatorRedirectURIs is the policy for the operator: Caddyfile `client` blocks and
	// `caddy oauth client`/`install`. It refuses only what both policies refuse, so
	// http://intranet.example/cb (a staging or intranet app) and myapp://cb (a native app
	// without a reverse-domain scheme) are accepted: the operator decides, as they decide
	// everything else in the configuration.
	OperatorRedirectURIs
)

// maxRedirectURILen bounds an end user's redirect URI (StrictRedirectURIs).
const maxRedirectURILen = 2000

// String names the policy in messages.
func (p RedirectURIPolicy) String() string {
	if p == OperatorRedirectURIs {
		return "operator"
	}
	return "strict"
}

// RedirectURIError says why a redirect URI cannot be registered.
type RedirectURIError struct {
	// URI is the refused redirect URI.
	URI string
	// Reason says what is wrong with it, without repeating it.
	Reason string
}

// Error implements error.
func (e *RedirectURIError) Error() string {
	return fmt.Sprintf("redirect URI %q: %s", e.URI, e.Reason)
}

// Check returns a *RedirectURIError saying why uri cannot be registered under the
// policy, or nil.
func (p RedirectURIPolicy) Check(uri string) error {
	if reason := p.problem(uri); reason != "" {
		return &RedirectURIError{URI: uri, Reason: reason}
	}
	return nil
}

// problem is Check's reason, or "".
func (p RedirectURIPolicy) problem(uri string) string {
	strict := p != OperatorRedirectURIs
	if strict && len(uri) > maxRedirectURILen {
		return "longer than 2000 bytes"
	}
	for _, c := range []byte(uri) {
		if c <= 0x20 || c == 0x7f {
			return "contains a space or control character"
		}
	}
	if strict && strings.IndexFunc(uri, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return "contains a space or control character"
	}
	u, err := url.Parse(uri)
	if err != nil {
		// Without url.Error's wrapping, which repeats the URI the message already names.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "not a valid URI: " + err.Error()
	}
	if !u.IsAbs() {
		return "must be absolute (with a scheme)"
	}
	if u.Fragment != "" || strings.Contains(uri, "#") {
		return "must not have a fragment"
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "javascript", "data", "vbscript", "file", "blob":
		return "the " + u.Scheme + ": scheme is not allowed"
	case "http", "https":
		if u.Host == "" || u.Hostname() == "" {
			return "must name a host"
		}
		if u.User != nil {
			return "must not contain a user name or password"
		}
	}
	if !strict {
		return ""
	}
	switch {
	case scheme == "https":
	case scheme == "http":
		if !isLoopbackHost(u.Hostname()) {
			return "http is allowed only for a loopback host; use https"
		}
	case strings.Contains(scheme, "."):
		// A private-use scheme of a native app (RFC 8252 §7.1).
		if u.User != nil {
			return "must not contain a user name or password"
		}
	default:
		return "the scheme must be https, http on a loopback host, or a reverse-domain private-use scheme"
	}
	return ""
}

// CheckRedirectURI reports why uri cannot be registered by the operator, or nil: it is
// OperatorRedirectURIs.Check.
func CheckRedirectURI(uri string) error { return OperatorRedirectURIs.Check(uri) }

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redirectURIMatches reports whether the redirect URI of an authorization request names
// the registered one. The comparison is exact (RFC 9700 §4.1.3: no prefix, case or path
// leeway) with one exception RFC 8252 §7.3 requires: for an http redirect URI on a
// loopback IP literal (127.0.0.0/8, [::1]) any port matches, because a native app
// listens on whatever port is free when it runs. Scheme, address, path and query must
// still be identical; "localhost" gets no leeway (RFC 8252 §8.3: it may resolve
// elsewhere).
func redirectURIMatches(registered, given string) bool {
	if given == registered {
		return true
	}
	if !strings.HasPrefix(registered, "http://") || !strings.HasPrefix(given, "http://") {
		return false
	}
	r, err1 := url.Parse(registered)
	g, err2 := url.Parse(given)
	if err1 != nil || err2 != nil || g.User != nil || g.Fragment != "" || strings.Contains(given, "#") {
		return false
	}
	ip := net.ParseIP(r.Hostname())
	if ip == nil || !ip.IsLoopback() || r.Hostname() != g.Hostname() {
		return false
	}
	if p := g.Port(); p != "" && !validPort(p) {
		return false
	}
	return r.EscapedPath() == g.EscapedPath() && r.RawQuery == g.RawQuery && r.ForceQuery == g.ForceQuery
}

// validPort reports whether p is a decimal port number, 1 to 65535.
func validPort(p string) bool {
	if len(p) == 0 || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n >= 1 && n <= 65535
}
