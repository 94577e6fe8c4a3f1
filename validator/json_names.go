package validator

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// encoding/json matches object keys to struct fields case-insensitively (and folds a few
// non-ASCII letters, such as the long s and the Kelvin sign, onto ASCII ones), so
// {"ISS": ...} would fill Iss, where RFC 7519 claim names, RFC 7515 header parameters and
// every other JWT library (jwx included) are case-sensitive: a member that only a
// case-insensitive match finds must not count. FuzzJWTVerifierAgainstJWX found it.

// errCaseVariant refuses a header or claims with such a member.
var errCaseVariant = errors.New("a member name differs from a known one only in case")

// claimNames and headerNames are the members claimSet and jwsHeader decode.
var (
	claimNames  = []string{"iss", "sub", "aud", "exp", "nbf", "jti", "client_id", "azp", "scope", "scopes", "scp", "provider", "cnf"}
	headerNames = []string{"alg", "kid", "typ", "crit"}
)

// caseVariantMember reports whether the JSON object raw has a top-level member whose
// name matches one of names only case-insensitively. A cheap scan of the quoted strings
// rules most objects out; only a suspect one (a case variant anywhere, or an escape,
// which could spell one) is decoded member by member.
func caseVariantMember(raw []byte, names []string) bool {
	if !mayHaveCaseVariant(raw, names) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false // not an object: decoding it fails anyway
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if key, ok := tok.(string); ok && isCaseVariant(key, names) {
			return true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return false
}

// mayHaveCaseVariant reports whether raw has an escape or a quoted string that is a case
// variant of one of names.
func mayHaveCaseVariant(raw []byte, names []string) bool {
	if bytes.IndexByte(raw, '\\') >= 0 {
		return true
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		end := bytes.IndexByte(raw[i+1:], '"')
		if end < 0 {
			return false
		}
		// Names are at most 9 bytes; a folded non-ASCII letter takes up to 3.
		if s := raw[i+1 : i+1+end]; len(s) <= 27 && isCaseVariant(string(s), names) {
			return true
		}
		i += end + 1
	}
	return false
}

// mayStartName marks the bytes a case variant of a known name can begin with: the names'
// first letters in both cases, and the lead bytes of the two non-ASCII letters
// encoding/json folds onto ASCII (ſ, U+017F: 0xC5; the Kelvin sign, U+212A: 0xE2), so
// most strings are ruled out by one lookup.
var mayStartName = func() (t [256]bool) {
	for _, n := range append(append([]string(nil), claimNames...), headerNames...) {
		c := n[0]
		t[c], t[c-'a'+'A'] = true, true
	}
	t[0xC5], t[0xE2] = true, true
	return t
}()

func isCaseVariant(s string, names []string) bool {
	if s == "" || !mayStartName[s[0]] {
		return false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	for _, n := range names {
		// An ASCII string folds onto a name only if it has the name's length; a folded
		// non-ASCII letter takes 2 or 3 bytes for 1.
		if (len(s) == len(n) || !ascii && len(s) > len(n) && len(s) <= 3*len(n)) && s != n && strings.EqualFold(s, n) {
			return true
		}
	}
	return false
}
