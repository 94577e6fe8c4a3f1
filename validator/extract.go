package validator

import "net/http"

// b64tokenChar marks the characters RFC 6750 §2.1 allows in a b64token before its
// trailing '=' padding: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/". Entries are 1
// or 0 so that validB64Token can AND eight lookups and branch once.
var b64tokenChar = func() (t [256]byte) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = 1
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = 1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for _, c := range "-._~+/" {
		t[c] = 1
	}
	return t
}()

// ExtractBearer returns the bearer token of r's Authorization header (RFC 6750 §2.1). The
// token is a substring of the header value, so the happy path does not allocate.
//
// Refusals:
//   - no Authorization header: NoToken (401, bare challenge);
//   - a single credential of another scheme (e.g. `Basic ...`, or `DPoP ...`, which
//     ExtractToken takes): NoToken too, because the client did not offer a bearer token
//     and the 401 challenge tells it which scheme to use (RFC 9110 §11.6.1); the other
//     credential is ignored, never forwarded as valid;
//   - more than one Authorization header, a comma-separated second credential, an empty
//     header or token, or a token with characters outside b64token: InvalidRequest (400).
//
// The scheme name matches case-insensitively. Tokens in the query string or the body
// (RFC 6750 §2.2, §2.3) are deliberately not read: they leak into logs and caches.
func ExtractBearer(r *http.Request) (string, error) {
	tok, dpopScheme, err := ExtractToken(r)
	if dpopScheme {
		// As any other scheme: refused as malformed only for a second credential.
		if hasComma(r.Header["Authorization"][0]) {
			return "", Refuse(InvalidRequest, "more than one credential in the Authorization header")
		}
		return "", Refuse(NoToken, "bearer token required")
	}
	return tok, err
}

// ExtractToken is ExtractBearer that also takes a token sent with the DPoP scheme
// (`Authorization: DPoP <token>`, RFC 9449 §7.1; the same token68 syntax, the scheme
// case-insensitive), and says which scheme carried it. A DPoP token goes with its proof,
// which the guard checks (dpop.go).
func ExtractToken(r *http.Request) (token string, dpopScheme bool, err error) {
	// Direct map access: the canonical key is a constant, and Header.Get would hide a
	// second header line, which must be refused rather than silently ignored.
	vals := r.Header["Authorization"]
	switch len(vals) {
	case 0:
		return "", false, Refuse(NoToken, "bearer token required")
	case 1:
	default:
		return "", false, Refuse(InvalidRequest, "more than one Authorization header")
	}
	v := vals[0]
	if v == "" {
		return "", false, Refuse(InvalidRequest, "empty Authorization header")
	}

	// The scheme is the first token up to a space.
	sp := 0
	for sp < len(v) && v[sp] != ' ' {
		sp++
	}
	// Bearer first: the plain token's path pays one comparison, as before.
	if !equalFoldASCII(v[:sp], "Bearer") {
		if !equalFoldASCII(v[:sp], "DPoP") {
			if hasComma(v) {
				return "", false, Refuse(InvalidRequest, "more than one credential in the Authorization header")
			}
			if !validScheme(v[:sp]) {
				return "", false, Refuse(InvalidRequest, "malformed Authorization header")
			}
			return "", false, Refuse(NoToken, "bearer token required")
		}
		dpopScheme = true
	}

	// RFC 6750 says 1*SP between scheme and token; tolerate several.
	i := sp
	for i < len(v) && v[i] == ' ' {
		i++
	}
	tok := v[i:]
	if tok == "" {
		return "", dpopScheme, Refuse(InvalidRequest, "empty bearer token")
	}
	// One pass over the token on the happy path: a comma is not a b64token character, so
	// only a token that fails the check is scanned again, to choose the description.
	if !validB64Token(tok) {
		if hasComma(tok) {
			return "", dpopScheme, Refuse(InvalidRequest, "more than one credential in the Authorization header")
		}
		return "", dpopScheme, Refuse(InvalidRequest, "malformed bearer token")
	}
	return tok, dpopScheme, nil
}

// validB64Token checks b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func validB64Token(s string) bool {
	n := len(s)
	for n > 0 && s[n-1] == '=' {
		n--
	}
	if n == 0 {
		return false
	}
	// Every request's token passes here, cache hit or not: eight bytes per branch instead
	// of one halves the cost on a typical 500-byte JWT.
	i := 0
	for ; i+8 <= n; i += 8 {
		if b64tokenChar[s[i]]&b64tokenChar[s[i+1]]&b64tokenChar[s[i+2]]&b64tokenChar[s[i+3]]&
			b64tokenChar[s[i+4]]&b64tokenChar[s[i+5]]&b64tokenChar[s[i+6]]&b64tokenChar[s[i+7]] == 0 {
			return false
		}
	}
	for ; i < n; i++ {
		if b64tokenChar[s[i]] == 0 {
			return false
		}
	}
	return true
}

// validScheme checks that an auth-scheme is a non-empty RFC 9110 token. Only letters,
// digits and the usual punctuation; anything else means the header is garbage.
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(b64tokenChar[c] == 1 && c != '/') && c != '!' && c != '#' && c != '$' && c != '%' &&
			c != '&' && c != '\'' && c != '*' && c != '^' && c != '`' && c != '|' {
			return false
		}
	}
	return true
}

func hasComma(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return true
		}
	}
	return false
}

// equalFoldASCII compares s with the ASCII-only lower/upper-case target without
// allocating; strings.EqualFold would also do, but also folds Unicode, which an
// auth-scheme never contains.
func equalFoldASCII(s, target string) bool {
	if len(s) != len(target) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], target[i]
		if a|0x20 != b|0x20 || (a|0x20) < 'a' || (a|0x20) > 'z' {
			return false
		}
	}
	return true
}
