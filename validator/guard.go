package validator

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyoauth/caddy-oauth/scopes"
)

// Subject says which kind of token a Guard accepts.
type Subject int

const (
	// AnySubject accepts user and client tokens (the default).
	AnySubject Subject = iota
	// UserSubject accepts only tokens that act for a user (Passport's auth:api).
	UserSubject
	// ClientSubject accepts only client tokens (client credentials; Passport's client:).
	ClientSubject
)

// ParseSubject reads "user", "client", "any" or "" (any).
func ParseSubject(s string) (Subject, error) {
	switch s {
	case "", "any":
		return AnySubject, nil
	case "user":
		return UserSubject, nil
	case "client":
		return ClientSubject, nil
	}
	return 0, fmt.Errorf("subject %q: must be user, client or any", s)
}

// RevocationList says whether a token id is revoked. Revoked runs on every request, so it
// must not lock or allocate (both implementations read an atomically swapped map).
type RevocationList interface {
	Revoked(jti string) bool
}

// GuardOptions configures a Guard.
type GuardOptions struct {
	// Verifier checks a token: a JWTVerifier, an Introspector, or one combining both.
	// Required.
	Verifier Verifier
	// Revocations are lists of revoked token ids refused on every request, cached token
	// or not: this server's feed (RevocationFeed), a Laravel database (PassportRevocations).
	Revocations []RevocationList
	// Subject restricts the kind of token; default AnySubject.
	Subject Subject
	// Provider, if set, accepts only tokens issued for this user provider.
	Provider string
	// Scopes are the scope rules; a token must satisfy every one.
	Scopes []scopes.Rule
	// Cookie, if set, also takes a token from the cookie of this name when the request has
	// no Authorization header, together with an X-CSRF-TOKEN or X-XSRF-TOKEN header equal
	// to the token's csrf claim (see cookie_token.go).
	Cookie string
	// StripHeaders are header names removed from every request besides the identity
	// headers (HeaderUserID and the others): the extra headers the host sets after a pass.
	// Names must be canonical (http.CanonicalHeaderKey).
	StripHeaders []string
	// DPoP configures the checks of DPoP-bound tokens (dpop.go). Tokens bound to a key
	// (cnf.jkt) are taken with the DPoP scheme and a proof, others with Bearer; a token
	// bound to a TLS client certificate (cnf.x5t#S256) needs that certificate
	// (cert_binding.go).
	DPoP DPoPOptions
}

// Guard makes the edge's whole decision about a request, with no dependency on the web
// server hosting it: strip the caller's identity headers, take the token (bearer, or the
// cookie with its CSRF check), verify it, consult the revocation feed, then apply the
// subject, provider and scope rules. The host writes the refusal (WriteRefusal) or the
// identity headers. Safe for concurrent use.
type Guard struct {
	verifier Verifier
	revoked  []RevocationList
	subject  Subject
	provider string
	rules    []scopes.Rule
	refusals []*Refusal // refusals[i] answers a token that fails rules[i]
	cookie   string
	strip    spoofNames
	dpop     *dpopCheck
}

// NewGuard checks opts and builds a Guard.
func NewGuard(opts GuardOptions) (*Guard, error) {
	if opts.Verifier == nil {
		return nil, errors.New("guard: a token verifier is required")
	}
	for _, r := range opts.Scopes {
		if len(r.Scopes) == 0 {
			return nil, errors.New("guard: a scope rule needs at least one scope")
		}
	}
	g := &Guard{
		verifier: opts.Verifier,
		revoked:  append([]RevocationList(nil), opts.Revocations...),
		subject:  opts.Subject,
		provider: opts.Provider,
		rules:    append([]scopes.Rule(nil), opts.Scopes...),
		cookie:   opts.Cookie,
	}
	for _, r := range g.rules {
		g.refusals = append(g.refusals, RefuseScope(r.Scopes))
	}
	g.dpop = newDPoPCheck(opts.DPoP)
	g.strip.add(HeaderUserID, HeaderClientID, HeaderScopes, HeaderTokenID)
	g.strip.add(opts.StripHeaders...)
	return g, nil
}

// Check decides about r: it first removes every caller-sent header the upstream could
// take for an identity header (whatever the outcome), then returns the identity of a
// token that passes, or a *Refusal that says how to answer. The checks run in this order:
// token presence and shape, verification, revocation, the token's binding (DPoP proof,
// client certificate), header-safe claims, cookie CSRF, subject, provider, scopes; so a
// revoked token is refused as such even where a rule would also refuse it.
func (g *Guard) Check(r *http.Request) (*Identity, error) {
	id, _, err := g.CheckToken(r)
	return id, err
}

// CheckToken is Check that also returns the token that passed, which the host needs to
// read claims of a cached identity (Identity.ClaimsFor).
func (g *Guard) CheckToken(r *http.Request) (*Identity, string, error) {
	stripSpoofed(r.Header, &g.strip)
	token, dpopScheme, fromCookie, err := requestToken(r, g.cookie)
	if err == nil {
		var id *Identity
		if id, err = g.check(r, token, dpopScheme, fromCookie); err == nil {
			return id, token, nil
		}
	}
	if dpopScheme {
		// RFC 9449 §7.1: a token sent with the DPoP scheme is refused with a DPoP
		// challenge, whatever the reason.
		err = AsDPoPRefusal(err)
	}
	return nil, "", err
}

// AsDPoPRefusal is err answered with a DPoP challenge, as every refusal of a token sent
// with the DPoP scheme is (RFC 9449 §7.1); other errors are returned as they are.
func AsDPoPRefusal(err error) error {
	ref, ok := AsRefusal(err)
	if !ok || ref.dpopChallenge() || ref.Kind == Unavailable {
		return err
	}
	c := *ref
	c.DPoP = true
	return &c
}

// check is CheckToken's decision once the token is taken from the request.
func (g *Guard) check(r *http.Request, token string, dpopScheme, fromCookie bool) (*Identity, error) {
	id, err := g.verifier.Verify(r.Context(), token)
	if err != nil {
		return nil, err
	}
	// Checked on every request, cached token or not: the set is swapped atomically, so
	// this is one map lookup.
	if id.TokenID != "" {
		for _, list := range g.revoked {
			if list.Revoked(id.TokenID) {
				return nil, revokedRefusal
			}
		}
	}
	// One test for a plain Bearer token, however it is bound or not.
	if dpopScheme || id.bound() {
		if err := g.checkBinding(r, token, id, dpopScheme); err != nil {
			return nil, err
		}
	}
	switch {
	case id.unsafe:
		return nil, refuseUnsafeClaims
	case fromCookie && !cookieCSRFMatches(r, id, token):
		return nil, refuseCookieCSRF
	case g.subject == UserSubject && !id.IsUser():
		return nil, refuseNotUser
	case g.subject == ClientSubject && id.IsUser():
		return nil, refuseNotClient
	case g.provider != "" && id.Provider != g.provider:
		return nil, refuseProvider
	}
	for i, rule := range g.rules {
		if !rule.Satisfied(id.Scopes) {
			return nil, g.refusals[i]
		}
	}
	return id, nil
}

// Refusals of the rules, shared values so refusing allocates nothing.
var (
	revokedRefusal   = &Refusal{Kind: InvalidToken, Description: "token revoked", Err: ErrRevoked}
	refuseCookieCSRF = Refuse(InvalidToken, "a cookie token needs the X-XSRF-TOKEN or X-CSRF-TOKEN header")
	refuseNotUser    = Refuse(InvalidToken, "a user token is required")
	refuseNotClient  = Refuse(InvalidToken, "a client token is required")
	refuseProvider   = Refuse(InvalidToken, "the token was not issued for this user provider")
	// A claim that would go into a header with a CR or LF in it: 401 here, rather than a
	// 502 from the proxy that cannot send such a header (or a split header where one can).
	refuseUnsafeClaims = Refuse(InvalidToken, "the token's claims contain control characters")
)
