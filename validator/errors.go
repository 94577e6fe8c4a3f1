package validator

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyoauth/caddy-oauth/dpop"
)

// Kind classifies why a request was refused. Each kind maps to one HTTP status and one
// RFC 6750 challenge, so the guard never has to decide how to answer on its own.
type Kind int

const (
	// NoToken means the request carried no bearer credential at all (401, a bare
	// `Bearer realm="..."` challenge without an error code, per RFC 6750 §3.1).
	NoToken Kind = iota + 1
	// InvalidRequest means the Authorization header was malformed or carried more than one
	// credential (400, error="invalid_request").
	InvalidRequest
	// InvalidToken means the token was present but is not acceptable: bad signature,
	// expired, unknown key, wrong issuer or audience, revoked (401, error="invalid_token").
	InvalidToken
	// InsufficientScope means the token is valid but lacks a required scope
	// (403, error="insufficient_scope", scope="<required>").
	InsufficientScope
	// Unavailable means the token could not be checked right now, e.g. the introspection
	// endpoint or the JWKS endpoint is unreachable (503, Retry-After, no challenge). It
	// never lets the request through.
	Unavailable
	// InvalidDPoPProof means the DPoP proof that must go with a DPoP-bound token is
	// missing, more than one, or fails a check (401, `DPoP error="invalid_dpop_proof"`,
	// RFC 9449 §7.1).
	InvalidDPoPProof
	// UseDPoPNonce means the DPoP proof lacks the fresh nonce this guard requires; the
	// answer carries one in the DPoP-Nonce header (401, `DPoP error="use_dpop_nonce"`,
	// RFC 9449 §9).
	UseDPoPNonce
)

// DefaultRetryAfter is the Retry-After sent with an Unavailable refusal that names none.
const DefaultRetryAfter = 5 * time.Second

// Status returns the HTTP status code written for the kind.
func (k Kind) Status() int {
	switch k {
	case NoToken, InvalidToken, InvalidDPoPProof, UseDPoPNonce:
		return http.StatusUnauthorized
	case InvalidRequest:
		return http.StatusBadRequest
	case InsufficientScope:
		return http.StatusForbidden
	case Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Code returns the error code the kind puts in the JSON body. It is the RFC 6750 code for
// the kinds that have one. NoToken has none in the challenge (RFC 6750 §3.1 says a request
// without credentials gets no error code), so its body uses "unauthorized", which no
// client can mistake for an RFC 6750 code. Unavailable uses RFC 6749's
// "temporarily_unavailable".
func (k Kind) Code() string {
	switch k {
	case NoToken:
		return "unauthorized"
	case InvalidRequest:
		return "invalid_request"
	case InvalidToken:
		return "invalid_token"
	case InsufficientScope:
		return "insufficient_scope"
	case Unavailable:
		return "temporarily_unavailable"
	case InvalidDPoPProof:
		return "invalid_dpop_proof"
	case UseDPoPNonce:
		return "use_dpop_nonce"
	}
	return "server_error"
}

// String names the kind for logs.
func (k Kind) String() string {
	if k == NoToken {
		return "no_token"
	}
	return k.Code()
}

// Refusal is the one error type of this package: why a request may not pass, in a form
// that WriteRefusal turns into an RFC 6750 answer. Description is shown to the caller and
// never contains the token; Err keeps the underlying cause for logs only.
type Refusal struct {
	// Kind selects the status and challenge.
	Kind Kind
	// Description is a short, caller-safe explanation (error_description).
	Description string
	// Scopes lists the required scopes of an InsufficientScope refusal.
	Scopes []string
	// RetryAfter is how long an Unavailable caller should wait; zero means DefaultRetryAfter.
	RetryAfter time.Duration
	// Err is the underlying cause, for logs; it is never written to the response.
	Err error
	// DPoP makes the challenge a DPoP one (RFC 9449 §7.1): the token came with the DPoP
	// scheme or must (it is DPoP-bound). InvalidDPoPProof and UseDPoPNonce always are.
	DPoP bool
	// Nonce, when set, is a fresh DPoP nonce for the DPoP-Nonce header (UseDPoPNonce).
	Nonce string
}

// dpopChallenge reports whether r is answered with a DPoP challenge.
func (r *Refusal) dpopChallenge() bool {
	return r.DPoP || r.Kind == InvalidDPoPProof || r.Kind == UseDPoPNonce
}

// Refuse builds a Refusal of the given kind with a caller-safe description.
func Refuse(kind Kind, description string) *Refusal {
	return &Refusal{Kind: kind, Description: description}
}

// RefuseScope builds the InsufficientScope refusal naming the scopes the route requires.
func RefuseScope(required []string) *Refusal {
	return &Refusal{
		Kind:        InsufficientScope,
		Description: "the token lacks a required scope",
		Scopes:      required,
	}
}

// RefuseUnavailable builds the Unavailable refusal for a check that could not be made;
// cause is kept for logs.
func RefuseUnavailable(retryAfter time.Duration, cause error) *Refusal {
	return &Refusal{
		Kind:        Unavailable,
		Description: "the token cannot be checked right now",
		RetryAfter:  retryAfter,
		Err:         cause,
	}
}

// invalidToken is the common InvalidToken refusal with its cause attached.
func invalidToken(description string, cause error) *Refusal {
	return &Refusal{Kind: InvalidToken, Description: description, Err: cause}
}

// Error implements error. It includes the cause so logs say what went wrong; neither part
// ever contains the token.
func (r *Refusal) Error() string {
	var b strings.Builder
	b.WriteString(r.Kind.String())
	if r.Description != "" {
		b.WriteString(": ")
		b.WriteString(r.Description)
	}
	if r.Err != nil {
		b.WriteString(": ")
		b.WriteString(r.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (r *Refusal) Unwrap() error { return r.Err }

// AsRefusal returns the Refusal in err's chain, if any.
func AsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	ok := errors.As(err, &r)
	return r, ok
}

// refusalBody is the JSON body sent with every refusal.
type refusalBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// WriteRefusal answers a refused request: the status of err's Kind, the RFC 6750
// `WWW-Authenticate` challenge (none for Unavailable), `Retry-After` for Unavailable,
// `Cache-Control: no-store`, and the JSON body {"error": ..., "error_description": ...}.
//
// realm is put in the challenge when non-empty. An err that is not a *Refusal (or nil)
// is a bug in the caller, not a verdict on the token, so it is answered with 500
// server_error and no challenge: the request is refused either way.
func WriteRefusal(w http.ResponseWriter, err error, realm string) {
	r, ok := AsRefusal(err)
	if !ok || r == nil {
		r = &Refusal{Description: "the token could not be checked"}
	}
	h := w.Header()
	if r.Kind != Unavailable && r.Kind.Status() != http.StatusInternalServerError {
		h.Set("WWW-Authenticate", Challenge(r, realm))
		if r.Kind == NoToken {
			// The guard takes both kinds of token (a DPoP-bound one with the DPoP scheme),
			// so a request with none is told of both (RFC 9449 §7.1); Bearer's comes
			// first, on its own line, for clients that read only one.
			h.Add("WWW-Authenticate", dpopNoTokenChallenge(realm))
		}
	}
	if r.Nonce != "" {
		h.Set("DPoP-Nonce", r.Nonce)
	}
	if r.Kind == Unavailable {
		h.Set("Retry-After", retryAfterSeconds(r.RetryAfter))
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	body, _ := json.Marshal(refusalBody{Error: r.Kind.Code(), Description: cleanDescription(r.Description)})
	w.WriteHeader(r.Kind.Status())
	_, _ = w.Write(body)
}

// Challenge returns the `WWW-Authenticate` value for r: `Bearer` followed by realm (when
// non-empty), and for every kind but NoToken the error, error_description and, for
// InsufficientScope, scope attributes. Values are sanitised so a realm or description
// cannot break out of its quoted-string.
//
// A DPoP refusal (Refusal.DPoP, InvalidDPoPProof, UseDPoPNonce) is a `DPoP` challenge
// instead, with the same attributes and algs, the proof algorithms accepted (RFC 9449
// §7.1).
func Challenge(r *Refusal, realm string) string {
	var b strings.Builder
	b.Grow(64)
	dpopScheme := r.dpopChallenge()
	if dpopScheme {
		b.WriteString("DPoP")
	} else {
		b.WriteString("Bearer")
	}
	sep := " "
	attr := func(name, value string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(value)
		b.WriteByte('"')
		sep = ", "
	}
	if realm != "" {
		attr("realm", quoteRealm(realm))
	}
	if r.Kind == NoToken {
		return b.String()
	}
	attr("error", r.Kind.Code())
	if d := cleanDescription(r.Description); d != "" {
		attr("error_description", d)
	}
	if r.Kind == InsufficientScope && len(r.Scopes) > 0 {
		attr("scope", cleanScope(strings.Join(r.Scopes, " ")))
	}
	if dpopScheme {
		attr("algs", dpopAlgs)
	}
	return b.String()
}

// dpopAlgs is the algs attribute of a DPoP challenge: the proof algorithms dpop accepts.
var dpopAlgs = strings.Join(dpop.Algorithms, " ")

// dpopNoTokenChallenge is the DPoP challenge sent beside Bearer's to a request with no
// token.
func dpopNoTokenChallenge(realm string) string {
	if realm == "" {
		return `DPoP algs="` + dpopAlgs + `"`
	}
	return `DPoP realm="` + quoteRealm(realm) + `", algs="` + dpopAlgs + `"`
}

// retryAfterSeconds renders d as whole seconds, rounded up and at least 1, because
// Retry-After has one-second resolution and 0 would invite an immediate retry storm.
func retryAfterSeconds(d time.Duration) string {
	if d <= 0 {
		d = DefaultRetryAfter
	}
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// quoteRealm escapes a realm for use inside a quoted-string (RFC 9110 §5.6.4): backslash
// and double quote are escaped, control characters and non-ASCII bytes are dropped so the
// header cannot be split or carry bytes some clients mangle.
func quoteRealm(s string) string {
	if !needsQuoting(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			// dropped
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func needsQuoting(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x7f {
			return true
		}
	}
	return false
}

// cleanDescription keeps only the characters RFC 6750 §3 allows in error_description and
// scope (%x20-21 / %x23-5B / %x5D-7E: printable ASCII without `"` and `\`); anything else
// is dropped, so no value can end its quoted-string early. The same text goes in the JSON
// body so both say the same thing.
func cleanDescription(s string) string { return keepOnly(s, paramChar) }

// cleanScope applies the same rule to a space-separated scope list: scope-tokens
// (RFC 6749 §3.3) use exactly that character set, and spaces separate them.
func cleanScope(s string) string { return keepOnly(s, paramChar) }

func paramChar(c byte) bool { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' }

func keepOnly(s string, ok func(byte) bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if ok(s[i]) {
			b = append(b, s[i])
		}
	}
	return string(b)
}
