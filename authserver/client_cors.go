package authserver

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Browser applications (single-page apps, public clients using PKCE and perhaps DPoP)
// call the token and revocation endpoints from their own origin, so those endpoints
// answer CORS (Fetch standard §3.2). No cookie or other ambient credential counts at
// either endpoint and no answer ever allows credentials; still, an answer is readable
// only by the origins of the public client that asked: the origin of one of its
// registered redirect URIs, which is where its pages live. A confidential client's
// secret has no place in a browser, so its answers are never readable cross-origin.

// clientCORSRequestHeaders are the request headers a browser app sends to these
// endpoints: Content-Type for the form, DPoP for its proof, Authorization for Basic.
const clientCORSRequestHeaders = "Authorization, Content-Type, DPoP"

// serveClientPreflight answers a CORS preflight at the token or revocation endpoint. The
// preflight carries no client id, so it allows any origin to send the request; whether
// the answer may be read is decided with the client in hand (allowClientOrigin).
func serveClientPreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", http.MethodPost)
	h.Set("Access-Control-Allow-Headers", clientCORSRequestHeaders)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// allowClientOrigin lets the page that sent r read the answer when its Origin is one of
// client's (a public client's) redirect URI origins: the answer names that origin and
// exposes the headers a client acts on (DPoP-Nonce for the retry RFC 9449 §8 asks for,
// WWW-Authenticate, Retry-After of a rate-limit refusal). client is nil when the request was refused before the client was
// known; such answers stay unreadable cross-origin.
func allowClientOrigin(w http.ResponseWriter, r *http.Request, client *store.Client) {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Add("Vary", "Origin")
	if origin == "" || client == nil || client.Confidential() || !redirectOrigin(client, origin) {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "DPoP-Nonce, WWW-Authenticate, Retry-After")
}

// redirectOrigin reports whether origin (scheme://host[:port], as a browser sends it) is
// the origin of one of client's http(s) redirect URIs. As at the authorization endpoint
// (redirectURIMatches, RFC 8252 §7.3), an http redirect URI on a loopback IP literal
// admits any port of that address.
func redirectOrigin(client *store.Client, origin string) bool {
	o, err := url.Parse(origin)
	if err != nil || o.User != nil || o.Path != "" || o.RawQuery != "" || o.ForceQuery || o.Fragment != "" {
		return false
	}
	for _, uri := range client.RedirectURIs {
		u, err := url.Parse(uri)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		// Browsers send the scheme and host in lower case and leave the default port out.
		host := strings.ToLower(u.Host)
		if u.Scheme == "https" {
			host = strings.TrimSuffix(host, ":443")
		} else {
			host = strings.TrimSuffix(host, ":80")
		}
		if origin == u.Scheme+"://"+host {
			return true
		}
		// The loopback leeway: the origin with the registered URI's path and query must be
		// a redirect URI the authorization endpoint would take.
		rest := u.EscapedPath()
		if u.RawQuery != "" || u.ForceQuery {
			rest += "?" + u.RawQuery
		}
		if redirectURIMatches(uri, origin+rest) {
			return true
		}
	}
	return false
}
