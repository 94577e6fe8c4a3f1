package validator

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/caddyoauth/caddy-oauth/scopes"
)

// Identity is what a verified token says about its bearer. It is shared between
// concurrent requests through the token cache, so callers must treat it as read-only.
//
// What is particular to one token (its id, its user, its expiry) is held here; what many
// tokens share (client, scopes, issuer, audience, provider) is in the Grant, which the
// token cache shares between all the tokens that have equal ones: a cached token then
// costs its own three fields and a pointer.
type Identity struct {
	*Grant
	// TokenID is the jti claim; revocation feeds name tokens by it.
	TokenID string
	// UserID is the user the token acts for; empty for client tokens, i.e. when sub is
	// empty or equals the client id (Passport's client-credentials tokens have an empty
	// sub, other servers set sub to the client id).
	UserID string
	// expires is the exp claim in Unix microseconds (which span any date a token can
	// name, where nanoseconds stop in 2262); 0 when the token has none.
	expires int64
}

// Grant is the part of an identity that many tokens share.
type Grant struct {
	// ClientID is the client_id claim, else azp, else the single aud value (Passport puts
	// the client id in aud).
	ClientID string
	// Scopes are the granted scopes, from `scope` (space-separated), else `scopes`, else
	// `scp` (array or string), de-duplicated in first-seen order.
	Scopes []string
	// ScopeString is Scopes space-joined, computed once for headers and placeholders.
	ScopeString string
	// Provider is the user provider the token was issued for (Passport guards); may be empty.
	Provider string
	// Issuer is the iss claim.
	Issuer string
	// Audience is the aud claim, always as a list.
	Audience []string

	// subIsClient records that a token without a user named its client in sub (rather
	// than leaving sub empty), so Subject gives back the sub as sent.
	subIsClient bool
	// unsafe is set when a value the guard puts in a request header (user, client, scopes,
	// token id, provider) holds a control character such as CR or LF: a signed claim must
	// not be able to split or corrupt the upstream request. Such an identity is never
	// cached, so its grant is never shared.
	unsafe bool
	// jkt and x5t are the token's binding (cnf.jkt, cnf.x5t#S256; confirmation.go),
	// checked on every request (dpop.go, cert_binding.go). The token cache never shares a
	// bound grant: it gives each bound token its own copy of the shared one
	// (TokenCache.set), so plain tokens' grants stay shared.
	jkt, x5t string
	// claims is the claims object the identity was built from; nil in a grant the token
	// cache shares (a cached JWT's claims are decoded again from the token, ClaimsFor).
	claims *Claims
}

// Subject returns the sub claim as sent: the user, or for a client token the client id or
// nothing.
func (id *Identity) Subject() string {
	if id.UserID != "" {
		return id.UserID
	}
	if id.subIsClient {
		return id.ClientID
	}
	return ""
}

// ExpiresAt returns the exp claim, or the zero time when the token has none.
func (id *Identity) ExpiresAt() time.Time {
	if id.expires == 0 {
		return time.Time{}
	}
	return time.UnixMicro(id.expires)
}

// unixMicro is t in Unix microseconds, never 0 (which means no expiry).
func unixMicro(t time.Time) int64 {
	if us := t.UnixMicro(); us != 0 {
		return us
	}
	return 1
}

// expiresWithin reports the time left until exp + leeway at now (negative once past).
func (id *Identity) expiresWithin(now time.Time, leeway time.Duration) time.Duration {
	left := id.expires - now.UnixMicro() + leeway.Microseconds()
	const maxMicros = math.MaxInt64 / int64(time.Microsecond)
	return time.Duration(min(left, maxMicros)) * time.Microsecond
}

// IsUser reports whether the token acts for a user rather than only for a client.
func (id *Identity) IsUser() bool { return id.UserID != "" }

// ClaimsFor returns the claims of the identity of token: those it holds, or, for a cached
// JWT identity, the token's payload decoded again (the token was verified when it was
// cached, and the cache is keyed by all of its bytes). Nil when there are none.
func (id *Identity) ClaimsFor(token string) *Claims {
	if id.claims != nil {
		return id.claims
	}
	return jwtPayloadClaims(token)
}

// Claims is a token's JSON claims object, decoded into members on first use only (most
// requests never ask), once, safely from many goroutines.
type Claims struct {
	raw  []byte
	once sync.Once
	m    map[string]json.RawMessage
}

// Get returns a claim for `{oauth.claim.<name>}` placeholders: strings as they are,
// numbers, booleans, arrays and objects as their compact JSON text. A claim that is
// absent or null reports false.
func (c *Claims) Get(name string) (string, bool) {
	if c == nil {
		return "", false
	}
	c.once.Do(func() {
		var m map[string]json.RawMessage
		if json.Unmarshal(c.raw, &m) == nil {
			c.m = m
		}
	})
	v, ok := c.m[name]
	if !ok || len(v) == 0 || string(v) == "null" {
		return "", false
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case '{', '[':
		var b bytes.Buffer
		if json.Compact(&b, v) != nil {
			return "", false
		}
		return b.String(), true
	}
	return string(v), true
}

// jwtPayloadClaims decodes the payload segment of a compact JWS, or returns nil.
func jwtPayloadClaims(token string) *Claims {
	dot1 := strings.IndexByte(token, '.')
	dot2 := strings.LastIndexByte(token, '.')
	if dot1 < 0 || dot2 <= dot1 {
		return nil
	}
	raw, err := b64.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return nil
	}
	return &Claims{raw: raw}
}

// IdentityFromClaims builds an Identity from a JSON claims object that has already been
// authenticated, such as a verified JWT payload or an RFC 7662 introspection response. It
// checks shapes only: no issuer, audience or time checks (the caller does those). raw is
// kept, not copied.
func IdentityFromClaims(raw []byte) (*Identity, error) {
	var c claimSet
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return c.identity(raw), nil
}

// claimSet is the typed subset of claims the guard needs. Decoding into a struct instead
// of a map[string]any keeps the cold path to a handful of allocations.
type claimSet struct {
	Iss      flexString   `json:"iss"`
	Sub      subjectClaim `json:"sub"`
	Aud      audience     `json:"aud"`
	Exp      numericDate  `json:"exp"`
	Nbf      numericDate  `json:"nbf"`
	Jti      flexString   `json:"jti"`
	ClientID flexString   `json:"client_id"`
	Azp      flexString   `json:"azp"`
	Scope    scopeList    `json:"scope"`
	Scopes   scopeList    `json:"scopes"`
	Scp      scopeList    `json:"scp"`
	Provider flexString   `json:"provider"`
	Cnf      confirmation `json:"cnf"`
}

// fullIdentity is an identity with its own grant and claims, made in one allocation.
type fullIdentity struct {
	id     Identity
	grant  Grant
	claims Claims
}

func (c *claimSet) identity(raw []byte) *Identity {
	f := &fullIdentity{}
	id, g := &f.id, &f.grant
	f.claims.raw = raw
	id.Grant, g.claims = g, &f.claims
	id.TokenID = string(c.Jti)
	g.Provider, g.Issuer, g.Audience = string(c.Provider), string(c.Iss), []string(c.Aud)
	if c.Exp.set {
		id.expires = unixMicro(c.Exp.time())
	}
	switch {
	case c.ClientID != "":
		g.ClientID = string(c.ClientID)
	case c.Azp != "":
		g.ClientID = string(c.Azp)
	case len(c.Aud) == 1:
		g.ClientID = c.Aud[0]
	}
	if sub := string(c.Sub); sub != "" && sub != g.ClientID {
		id.UserID = sub
	} else {
		g.subIsClient = sub != ""
	}
	// `scope` is the RFC 9068 / RFC 7662 spelling; `scopes` is Passport's; `scp` is
	// Azure's and Okta's.
	sc := c.Scope
	if !sc.set {
		sc = c.Scopes
	}
	if !sc.set {
		sc = c.Scp
	}
	g.Scopes, g.ScopeString = sc.list, sc.joined()
	g.jkt, g.x5t = c.Cnf.jkt, c.Cnf.x5t
	g.unsafe = hasControl(id.UserID) || hasControl(g.ClientID) || hasControl(g.ScopeString) ||
		hasControl(id.TokenID) || hasControl(g.Provider)
	return id
}

// HeaderSafe reports whether the values the guard forwards as headers (user, client,
// scopes, token id, provider) are free of control characters.
func (id *Identity) HeaderSafe() bool { return !id.unsafe }

// hasControl reports whether s holds an ASCII control character (CR, LF, NUL, DEL...),
// which no header value may carry.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// flexString accepts a JSON string, or a number kept as its text: some servers send sub
// or client_id as integers, which are still meaningful identifiers.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	switch c := b[0]; {
	case c == '"':
		// Fast path: no escapes and valid UTF-8 means the bytes between the quotes are the
		// string, and json.Unmarshal would only cost a second scan.
		in := b[1 : len(b)-1]
		if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			*s = flexString(in)
			return nil
		}
		return json.Unmarshal(b, (*string)(s))
	case c == '-' || (c >= '0' && c <= '9'):
		*s = flexString(b)
		return nil
	}
	return errors.New("expected a string or a number")
}

// audience is the aud claim: one string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '"' {
		var s flexString
		if err := s.UnmarshalJSON(b); err != nil {
			return err
		}
		*a = audience{string(s)}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// answerAudience is the aud of an introspection answer, where a number is kept as its
// text: Laravel's passport-introspection packages answer "aud": 3 (PHP's intval of
// Passport's client id). A signed JWT's aud stays strict (audience): RFC 7519 allows only
// strings there.
type answerAudience audience

func (a *answerAudience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) {
		*a = answerAudience{string(b)}
		return nil
	}
	return (*audience)(a).UnmarshalJSON(b)
}

// subjectClaim is the sub claim. RFC 7519 makes it a string; a JSON number is kept as its
// text, except the number 0, which is what Laravel's passport-introspection packages send
// for a client credentials token (PHP's intval of Passport's empty sub): no user, never
// user "0".
type subjectClaim flexString

func (s *subjectClaim) UnmarshalJSON(b []byte) error {
	if string(b) == "0" {
		*s = ""
		return nil
	}
	return (*flexString)(s).UnmarshalJSON(b)
}

// scopeList is a scope claim given either as a space-separated string or as an array;
// set records presence so the claim precedence does not depend on emptiness.
type scopeList struct {
	list []string
	// wire is the original string when it was already in canonical form, saving a join.
	wire string
	set  bool
}

func (l *scopeList) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	l.set = true
	if b[0] == '"' {
		var s flexString
		if err := s.UnmarshalJSON(b); err != nil {
			return err
		}
		l.setString(string(s))
		return nil
	}
	arr, ok := plainStringArray(b)
	if !ok {
		if err := json.Unmarshal(b, &arr); err != nil {
			return err
		}
	}
	// Array entries are scope-tokens, which cannot contain spaces; parsing the joined form
	// drops empties and duplicates with the same rules as the string form.
	l.list = scopes.Parse(scopes.Format(arr))
	return nil
}

// plainStringArray reads a JSON array of strings without escapes, such as Passport's
// scopes, without a second pass of encoding/json. b is already known to be valid JSON
// (json.Unmarshal checks the whole input before decoding), so only the shape is checked
// here; anything else (escapes, invalid UTF-8, which encoding/json would replace, or a
// non-string) reports false and the caller decodes it the general way.
func plainStringArray(b []byte) ([]string, bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	var out []string
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return out, true
	}
	for i < len(b) {
		if b[i] != '"' {
			return nil, false
		}
		end := bytes.IndexByte(b[i+1:], '"')
		if end < 0 {
			return nil, false
		}
		s := b[i+1 : i+1+end]
		if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
			return nil, false
		}
		out = append(out, string(s))
		i = skipSpace(b, i+end+2)
		if i < len(b) && b[i] == ']' {
			return out, true
		}
		if i >= len(b) || b[i] != ',' {
			return nil, false
		}
		i = skipSpace(b, i+1)
	}
	return nil, false
}

// skipSpace returns the index of the first byte at or after i that is not JSON space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// setString sets the list from its space-separated form.
func (l *scopeList) setString(s string) {
	l.set = true
	l.list = scopes.Parse(s)
	if canonical(s, l.list) {
		l.wire = s
	}
}

func (l scopeList) joined() string {
	if l.wire != "" || len(l.list) == 0 {
		return l.wire
	}
	return scopes.Format(l.list)
}

// canonical reports whether s is exactly list joined by single spaces.
func canonical(s string, list []string) bool {
	n := len(list) - 1
	for _, e := range list {
		n += len(e)
	}
	return n == len(s)
}

// numericDate is a JWT NumericDate (RFC 7519 §2): seconds since the epoch, possibly with
// a fraction (lcobucci/jwt, used by Passport, writes microseconds as a fraction).
type numericDate struct {
	sec  int64
	nsec int64
	set  bool
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	// Fast path for the common integer form: no float parsing, no allocation.
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9' && i < 18; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	if i == len(b) && i > 0 {
		d.sec, d.nsec, d.set = n, 0, true
		return nil
	}
	// Fast path for seconds.fraction, as lcobucci/jwt writes Passport's dates: read
	// exactly, to the nanosecond (further digits are dropped), with no float and no
	// allocation. Anything else (exponents, signs) takes the float path below.
	if i > 0 && i < len(b) && b[i] == '.' {
		var ns int64
		j, k := i+1, 0
		for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
			if k < 9 {
				ns = ns*10 + int64(b[j]-'0')
				k++
			}
		}
		if j == len(b) && j > i+1 {
			for ; k < 9; k++ {
				ns *= 10
			}
			d.sec, d.nsec, d.set = n, ns, true
			return nil
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errors.New("expected a numeric date")
	}
	if f > 1<<62 || f < -(1<<62) {
		return errors.New("numeric date out of range")
	}
	sec := int64(f)
	d.sec, d.nsec, d.set = sec, int64((f-float64(sec))*1e9), true
	return nil
}

func (d numericDate) time() time.Time { return time.Unix(d.sec, d.nsec) }
