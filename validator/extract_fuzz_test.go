package validator

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// bearerOracle is RFC 6750 §2.1 written as a regular expression, independently of
// ExtractBearer's hand-written scanner: the scheme case-insensitively, one or more
// spaces, a b64token.
var bearerOracle = regexp.MustCompile(`^(?i:bearer) +([A-Za-z0-9\-._~+/]+=*)$`)

// FuzzExtractBearer checks the scanner against the oracle for any header value (and a
// second header line): it returns a token exactly when the oracle matches, the token is
// the oracle's, verbatim, and every refusal is NoToken or InvalidRequest.
func FuzzExtractBearer(f *testing.F) {
	for _, seed := range []string{
		"Bearer abc", "bearer abc.def-ghi_jkl~mno+pqr/stu==", "BEARER  x", "Bearer", "Bearer ", "Bearer a b",
		"Basic dXNlcjpwYXNz", "Bearer abc, Basic x", "Bearer abc=def", "Bearer =", "Bearer\tabc", "",
		"Bearer \x00", "Bearer ä", "Token abc", " Bearer abc", "Bearer abc ", "Bearerabc", "B€arer abc",
	} {
		f.Add(seed, "")
		f.Add(seed, "Bearer second")
	}
	f.Fuzz(func(t *testing.T, value, second string) {
		r := &http.Request{Header: http.Header{"Authorization": {value}}}
		if second != "" {
			r.Header["Authorization"] = append(r.Header["Authorization"], second)
		}
		tok, err := ExtractBearer(r)
		m := bearerOracle.FindStringSubmatch(value)
		switch {
		case second != "":
			if err == nil {
				t.Fatalf("two Authorization headers accepted: %q", tok)
			}
		case m != nil:
			if err != nil || tok != m[1] {
				t.Fatalf("%q: got %q, %v; the oracle says %q", value, tok, err, m[1])
			}
		default:
			if err == nil {
				t.Fatalf("%q: accepted %q, the oracle refuses", value, tok)
			}
		}
		if err != nil {
			ref, ok := AsRefusal(err)
			if !ok || (ref.Kind != NoToken && ref.Kind != InvalidRequest) {
				t.Fatalf("%q: refusal %v", value, err)
			}
			// Only a header with another scheme (or none) is NoToken; it never carries
			// "bearer" as its scheme.
			if ref.Kind == NoToken && len(value) >= 6 && strings.EqualFold(value[:6], "bearer") && (len(value) == 6 || value[6] == ' ') {
				t.Fatalf("%q: a bearer header refused as NoToken", value)
			}
		} else if !strings.Contains(value, tok) {
			t.Fatalf("token %q is not in the header %q", tok, value)
		}
	})
}

// tokenOracle is the same rule for either scheme ExtractToken takes (RFC 6750 §2.1,
// RFC 9449 §7.1): Bearer or DPoP, case-insensitively, one or more spaces, a token68.
var tokenOracle = regexp.MustCompile(`^((?i:bearer)|(?i:dpop)) +([A-Za-z0-9\-._~+/]+=*)$`)

// FuzzExtractToken checks ExtractToken against the oracle: a token exactly when it
// matches, the oracle's, and the DPoP flag exactly when the scheme is DPoP.
func FuzzExtractToken(f *testing.F) {
	for _, seed := range []string{"DPoP abc", "dpop  abc.def==", "DPOP", "DPoP ", "DPoP a,b", "Bearer abc", "DPoPabc", "DPo abc", "Basic x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		r := &http.Request{Header: http.Header{"Authorization": {value}}}
		tok, dpopScheme, err := ExtractToken(r)
		m := tokenOracle.FindStringSubmatch(value)
		if m == nil {
			if err == nil {
				t.Fatalf("%q: accepted %q, the oracle refuses", value, tok)
			}
			return
		}
		if err != nil || tok != m[2] || dpopScheme != strings.EqualFold(m[1], "dpop") {
			t.Fatalf("%q: got %q, %v, %v; the oracle says %q, %q", value, tok, dpopScheme, err, m[2], m[1])
		}
		// ExtractBearer takes only the Bearer ones.
		if _, err := ExtractBearer(r); (err == nil) == dpopScheme {
			t.Fatalf("%q: ExtractBearer %v with DPoP scheme %v", value, err, dpopScheme)
		}
	})
}
