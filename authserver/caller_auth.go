package authserver

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// bearerRealm is the challenge sent to callers that may present a Bearer token.
const bearerRealm = `Bearer realm="oauth"`

// authenticateResourceServer authenticates the caller of the introspection endpoint and
// the revocation feed: a confidential client marked Introspect, presenting either its
// credentials with HTTP Basic, or a Bearer access token it obtained for itself with the
// client_credentials grant (the flow RFC 7662 §2.1 suggests for resource servers).
// Anyone else gets 401.
//
// A success is remembered for callerTTL (never past a Bearer token's expiry) under the
// SHA-256 of the Authorization header, so a resource server introspecting thousands of
// tokens a second costs no store lookup for itself (and, for a token seen before, none
// at all: verifyAccessToken). The price: revoking the resource server's own token or credentials, or
// its introspect flag, takes up to callerTTL to be felt. Failures are never remembered.
func (s *Server) authenticateResourceServer(r *http.Request) (string, *Error) {
	if c, used, oerr := s.authenticateAssertionResourceServer(r); used {
		if oerr != nil {
			return "", oerr
		}
		return c.ID, nil
	}
	auth := r.Header.Get("Authorization")
	key := sha256.Sum256([]byte(auth))
	now := s.now()
	if id, ok := s.callers.get(key, now); ok {
		return id, nil
	}
	c, until, oerr := s.authenticateResourceServerUncached(r, auth)
	if oerr != nil {
		return "", oerr
	}
	if limit := now.Add(callerTTL); until.IsZero() || until.After(limit) {
		until = limit
	}
	s.callers.put(key, c.ID, until)
	return c.ID, nil
}

// authenticateAssertionResourceServer authenticates a private_key_jwt resource server by
// the client assertion in a POSTed form (RFC 7523 §2.2), or a tls_client_auth or
// self_signed_tls_client_auth one by its client_id and the TLS client certificate of the
// connection (RFC 8705 §2), reporting used = false when the request carries neither.
// Unlike Basic and Bearer callers it is not remembered: each assertion is accepted once
// anyway, and a certificate is checked on every request. The revocation feed is a GET, with no form to carry
// an assertion: a private_key_jwt resource server follows it with a Bearer token it got
// by client_credentials.
func (s *Server) authenticateAssertionResourceServer(r *http.Request) (c *store.Client, used bool, oerr *Error) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return nil, false, nil
	}
	form, oerr := readForm(r)
	if oerr != nil {
		return nil, true, oerr
	}
	assertion := form.Has("client_assertion") || form.Has("client_assertion_type")
	// A client authenticating by its TLS certificate (RFC 8705 §2) names itself with
	// client_id in the form; with no secret there, nothing but the certificate can prove
	// who it is.
	certificate := r.Header.Get("Authorization") == "" && form.Has("client_id") && !form.Has("client_secret") &&
		peerCertificate(r) != nil
	if !assertion && !certificate {
		return nil, false, nil
	}
	cred, oerr := readClientCredentials(r, form)
	if oerr != nil {
		return nil, true, oerr
	}
	c, oerr = s.authenticateClient(r.Context(), cred)
	if oerr != nil {
		return nil, true, oerr
	}
	if !c.Introspect || !c.Confidential() {
		// A public client authenticates by id alone: a certificate sent with its id
		// proves nothing.
		return nil, true, errInvalidClient("the client is not allowed to introspect tokens", false)
	}
	return c, true, nil
}

// callerTTL is how long an authenticated resource server is taken at its word.
const callerTTL = 10 * time.Second

// maxCallers bounds the caller cache; resource servers are few, so reaching it means
// many distinct tokens, and the cache is simply emptied.
const maxCallers = 4096

// callerCache remembers authenticated resource servers by a digest of their
// Authorization header.
type callerCache struct {
	mu      sync.RWMutex
	entries map[[32]byte]callerEntry
}

type callerEntry struct {
	clientID string
	until    time.Time
}

func (c *callerCache) get(key [32]byte, now time.Time) (string, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return "", false
	}
	return e.clientID, true
}

func (c *callerCache) put(key [32]byte, clientID string, until time.Time) {
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxCallers {
		c.entries = make(map[[32]byte]callerEntry)
	}
	c.entries[key] = callerEntry{clientID: clientID, until: until}
	c.mu.Unlock()
}

// authenticateResourceServerUncached does the checks; until is the expiry of a Bearer
// token, zero for Basic.
func (s *Server) authenticateResourceServerUncached(r *http.Request, auth string) (*store.Client, time.Time, *Error) {
	scheme, cred, _ := strings.Cut(auth, " ")
	switch {
	case auth == "":
		e := errInvalidClient("client authentication required", true)
		e.challenges = []string{bearerRealm}
		return nil, time.Time{}, e
	case strings.EqualFold(scheme, "Basic"):
		c, oerr := s.authenticateBasicResourceServer(r)
		return c, time.Time{}, oerr
	case strings.EqualFold(scheme, "Bearer"):
		return s.authenticateBearerResourceServer(r.Context(), strings.TrimSpace(cred))
	default:
		e := errInvalidClient("unsupported authentication scheme", true)
		e.challenges = []string{bearerRealm}
		return nil, time.Time{}, e
	}
}

func (s *Server) authenticateBasicResourceServer(r *http.Request) (*store.Client, *Error) {
	if _, _, ok := r.BasicAuth(); !ok {
		return nil, errInvalidClient("malformed client credentials", true)
	}
	// The token endpoint's reader decodes Basic credentials; an empty form leaves it
	// nothing but the header to read.
	cred, oerr := readClientCredentials(r, url.Values{})
	if oerr != nil {
		return nil, oerr
	}
	if cred.secret == "" {
		// A public client has nothing to prove who it is with.
		return nil, errInvalidClient("client authentication failed", true)
	}
	c, oerr := s.authenticateClient(r.Context(), cred)
	if oerr != nil {
		return nil, oerr
	}
	if !c.Introspect || !c.Confidential() {
		return nil, errInvalidClient("the client is not allowed to introspect tokens", true)
	}
	return c, nil
}

func (s *Server) authenticateBearerResourceServer(ctx context.Context, token string) (*store.Client, time.Time, *Error) {
	refuse := func(desc string) *Error {
		return &Error{Code: "invalid_token", Description: desc, Status: http.StatusUnauthorized,
			challenges: []string{bearerRealm + `, error="invalid_token"`}}
	}
	if token == "" {
		return nil, time.Time{}, refuse("the access token is missing")
	}
	// The caller is not authenticated yet: its token is not remembered if refused.
	v, err := s.verifyAccessToken(ctx, token, false)
	if err != nil {
		return nil, time.Time{}, errUnavailable("authenticating a resource server", err)
	}
	if v == nil {
		return nil, time.Time{}, refuse("the access token is invalid, expired or revoked")
	}
	// A sender-constrained token is no bearer credential (RFC 9449 §7.2, RFC 8705 §3):
	// such a caller authenticates with its client credentials instead.
	if v.claims.Confirmation != nil {
		return nil, time.Time{}, refuse("a DPoP- or certificate-bound token cannot authenticate a resource server: use the client's credentials")
	}
	// Only a token the client got for itself (client_credentials) speaks for the client;
	// a user's token issued to it (password, personal) does not.
	if v.record.UserID != "" || v.claims.Subject != v.claims.ClientID {
		return nil, time.Time{}, refuse("only a client credentials token may authenticate a resource server")
	}
	c, err := s.clientStore.GetClient(ctx, v.record.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, time.Time{}, refuse("the token's client no longer exists")
	}
	if err != nil {
		return nil, time.Time{}, errUnavailable("loading client", err, zap.String("client_id", v.record.ClientID))
	}
	if c.Revoked || !c.Introspect || !c.Confidential() {
		return nil, time.Time{}, refuse("the token's client is not allowed to introspect tokens")
	}
	return c, time.Unix(v.claims.Expires, 0), nil
}

// forget empties the cache, so a revocation made on this node is felt by the next
// request at once (other nodes feel it within callerTTL).
func (c *callerCache) forget() {
	c.mu.Lock()
	c.entries = nil
	c.mu.Unlock()
}
