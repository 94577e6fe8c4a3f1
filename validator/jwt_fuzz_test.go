package validator

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// deliberateRefusals are the rules by which our verifier refuses what jwx v2 (jws.Verify
// and jwt.Validate with the same keys, issuer, leeway and clock) accepts, on purpose (a
// refusal description begins with one of them): RFC 9068's typ at+jwt for tokens of the
// issuer (RFC 8725 §3.11), exp required, crit refused (RFC 7515 §4.1.11), a size bound,
// one strict base64url encoding (jwx also takes padded and standard base64), and strict
// JSON types for the claims (jwx also takes "exp" as a numeric string; RFC 7519 §2 says
// a NumericDate is a JSON number), and a known claim given twice (jwx keeps the last;
// RFC 7519 §4 allows refusing).
var deliberateRefusals = []string{
	"not an access token", "token has no expiry", "unsupported critical header", "token too large",
	"malformed token", "unsupported algorithm", "unsigned token",
}

// FuzzJWTVerifierAgainstJWX signs any header and claims JSON with the test key (so the
// fuzzer explores what comes after a valid signature) and also tries any raw token: our
// verifier and jwx must agree, except where a deliberate stricter rule refuses.
func FuzzJWTVerifierAgainstJWX(f *testing.F) {
	key := newES256(f, "k1")
	srv := newJWKSServer(f, jwksFor(f, key))
	v := newVerifier(f, newSource(f, srv.URL, KeySourceOptions{}), nil)
	set, err := jwk.Parse(jwksFor(f, key))
	if err != nil {
		f.Fatal(err)
	}
	jwxAccepts := func(token string) (bool, error) {
		// A token that names a kid is verified with that key only; a kid-less one is tried
		// against the set's keys: what our key source does. (With kid matching off, jwx
		// verifies a token naming an unknown kid with any key: the fuzzer's first find.)
		payload, err := jws.Verify([]byte(token), jws.WithKeySet(set))
		if err != nil && strings.Contains(err.Error(), `no key ID ("kid") specified`) {
			payload, err = jws.Verify([]byte(token), jws.WithKeySet(set, jws.WithRequireKid(false)))
		}
		if err != nil {
			return false, err
		}
		_, err = jwt.Parse(payload, jwt.WithVerify(false), jwt.WithValidate(true), jwt.WithIssuer(testIssuer),
			jwt.WithAcceptableSkew(DefaultLeeway), jwt.WithClock(jwt.ClockFunc(func() time.Time { return testNow })))
		return err == nil, err
	}
	good := sign(f, key, header(key, nil), claims(nil))
	hdr, cl, _ := strings.Cut(good, ".")
	cl, _, _ = strings.Cut(cl, ".")
	dec := func(s string) string { b, _ := base64.RawURLEncoding.DecodeString(s); return string(b) }
	f.Add(dec(hdr), dec(cl), "")
	for _, seed := range [][2]string{
		{`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, `{"iss":"https://auth.example.com","exp":1800003600}`},
		{`{"alg":"ES256","kid":"k1","typ":"JWT"}`, `{"iss":"https://auth.example.com","exp":1800003600}`},
		{`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, `{"ISS":"https://auth.example.com","exp":1800003600}`},
		{`{"ALG":"ES256","kid":"k1","typ":"at+jwt"}`, `{"iss":"https://auth.example.com","exp":1800003600}`},
		{`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, `{"iss":"https://auth.example.com","exp":"1800003600"}`},
		{`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, `{"iss":"https://auth.example.com","exp":1800003600,"nbf":1900000000}`},
		{`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, `{"iss":"https://auth.example.com","exp":1700000000}`},
		{`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, `{"iss":"https://auth.example.com","iss":"https://evil","exp":1800003600}`},
		{`{"alg":"ES256","kid":"k1","typ":"at+jwt","crit":["exp"]}`, `{"iss":"https://auth.example.com","exp":1800003600}`},
		{`{"alg":"ES256","typ":"at+jwt"}`, `{"iss":"https://auth.example.com","exp":1800003600}`},
		{`{"alg":"none","kid":"k1"}`, `{"iss":"https://auth.example.com","exp":1800003600}`},
		{`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, `{"iss":"https://auth.example.com","exp":1.8000036e9,"aud":["a",1]}`},
		{`{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, `[]`},
	} {
		f.Add(seed[0], seed[1], "")
	}
	f.Add("", "", good)
	f.Add("", "", good+"=")
	f.Add("", "", strings.Replace(good, ".", "=.", 1))
	f.Fuzz(func(t *testing.T, hdrJSON, claimsJSON, raw string) {
		token := raw
		if token == "" {
			input := base64.RawURLEncoding.EncodeToString([]byte(hdrJSON)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claimsJSON))
			token = input + "." + base64.RawURLEncoding.EncodeToString(signRaw(t, key, "ES256", input))
		}
		_, ours := v.Verify(context.Background(), token)
		theirs, jwxErr := jwxAccepts(token)
		switch {
		case ours == nil && !theirs:
			t.Fatalf("we accept what jwx refuses (%v):\nheader %q\nclaims %q\nraw %q", jwxErr, hdrJSON, claimsJSON, raw)
		case ours != nil && theirs:
			ref, ok := AsRefusal(ours)
			if !ok {
				t.Fatalf("not a refusal: %v", ours)
			}
			for _, d := range deliberateRefusals {
				if strings.HasPrefix(ref.Description, d) {
					return
				}
			}
			t.Fatalf("we refuse (%s) what jwx accepts:\nheader %q\nclaims %q\nraw %q", ref.Description, hdrJSON, claimsJSON, raw)
		}
	})
}
