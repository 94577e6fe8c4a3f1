package validator

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// Time claims of the wrong type or absurd size are refused, never read as "no limit":
// exp as a string, a boolean, an object, a number beyond any date, NaN-like text; nbf far
// in the future; and a token whose exp is fine but nbf is a string.
func TestVerifyRefusesTimeClaimsOfTheWrongTypeOrSize(t *testing.T) {
	es := newES256(t, "es")
	srv := newJWKSServer(t, jwksFor(t, es))
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), nil)
	future := testNow.Add(time.Hour).Unix()
	for name, extra := range map[string]map[string]any{
		"exp as a string":             {"exp": "9999999999"},
		"exp as a boolean":            {"exp": true},
		"exp as an object":            {"exp": map[string]any{"$gt": 0}},
		"exp as an array":             {"exp": []int64{future}},
		"exp beyond int64":            {"exp": 1e300},
		"exp at the int64 limit":      {"exp": int64(9223372036854775807)},
		"exp negative":                {"exp": -1},
		"exp zero":                    {"exp": 0},
		"exp null":                    {"exp": nil},
		"nbf as a string":             {"nbf": "0"},
		"nbf far in the future":       {"nbf": int64(1) << 40},
		"nbf beyond int64":            {"nbf": 1e300},
		"iss as an array":             {"iss": []string{testIssuer}},
		"iss with a trailing slash":   {"iss": testIssuer + "/"},
		"iss in another case":         {"iss": strings.ToUpper(testIssuer)},
		"iss with a NUL":              {"iss": testIssuer + "\x00"},
		"aud as a number":             {"aud": 42},
		"aud as an object":            {"aud": map[string]any{"api": true}},
		"scope as an object":          {"scope": map[string]any{"admin": true}},
		"client_id as an object":      {"client_id": map[string]any{"id": "x"}},
		"sub as an array of subjects": {"sub": []string{"1", "2"}},
	} {
		t.Run(name, func(t *testing.T) {
			cl := claims(nil)
			for k, val := range extra {
				if val == nil {
					cl[k] = nil // JSON null, not deleted
				} else {
					cl[k] = val
				}
			}
			if _, err := v.Verify(context.Background(), sign(t, es, header(es, nil), cl)); err == nil {
				t.Fatalf("accepted a token with %s", name)
			} else {
				wantRefusal(t, err, InvalidToken, "")
			}
		})
	}
	// A fractional exp (lcobucci/jwt writes one) and aud as a string or an array pass.
	for name, extra := range map[string]map[string]any{
		"fractional exp":    {"exp": float64(future) + 0.5},
		"aud string":        {"aud": "api"},
		"aud array":         {"aud": []string{"other", "api"}},
		"numeric sub":       {"sub": 42},
		"exp far in future": {"exp": int64(1) << 40},
	} {
		cl := claims(extra)
		v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), func(o *JWTOptions) { o.Audiences = []string{"api"} })
		if _, err := v.Verify(context.Background(), sign(t, es, header(es, nil), cl)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A kid naming a key of another type never lets the token's alg choose how the key is
// used: EdDSA, RS256 or HS256 headers on an EC key's kid, ES256 on an RSA key's kid,
// and HS256 keyed with the key's own JWK or its PEM.
func TestVerifyKidOfAnotherKeyTypeIsRefused(t *testing.T) {
	es := newES256(t, "es")
	rs := newRS256(t, "rs", 1)
	ed := newEdDSA(t, "ed")
	srv := newJWKSServer(t, jwksFor(t, es, rs, ed))
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), nil)
	esJWK := jwksFor(t, es)
	cases := map[string]string{
		"EdDSA signed, kid of the EC key":   sign(t, ed, header(ed, map[string]any{"kid": "es"}), claims(nil)),
		"ES256 signed, kid of the RSA key":  sign(t, es, header(es, map[string]any{"kid": "rs"}), claims(nil)),
		"RS256 signed, kid of the EdDSA":    sign(t, rs, header(rs, map[string]any{"kid": "ed"}), claims(nil)),
		"HS256 keyed with the EC key's set": signHMAC(t, esJWK, map[string]any{"alg": "HS256", "kid": "es", "typ": "at+jwt"}, claims(nil)),
		"HS256 with no kid":                 signHMAC(t, esJWK, map[string]any{"alg": "HS256", "typ": "at+jwt"}, claims(nil)),
		"PS256 header on the RSA key":       sign(t, rs, header(rs, map[string]any{"alg": "PS256"}), claims(nil)),
	}
	for name, tok := range cases {
		if _, err := v.Verify(context.Background(), tok); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			wantRefusal(t, err, InvalidToken, "")
		}
	}
}

// Garbage tokens cannot make the guard fetch the JWKS: alg none or HS256 with random kids
// never fetch, and a flood of well-formed tokens with random kids fetches at most once
// per MinRefetchInterval.
func TestVerifyRandomKidFloodFetchesAtMostOncePerInterval(t *testing.T) {
	es := newES256(t, "es")
	srv := newJWKSServer(t, jwksFor(t, es))
	clk := newClock(testNow)
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{MinRefetchInterval: time.Minute, Now: clk.now}), nil)
	start := srv.requests.Load()
	for i := 0; i < 200; i++ {
		kid := base64.RawURLEncoding.EncodeToString([]byte{byte(i), byte(i >> 8), 7})
		for _, tok := range []string{
			signHMAC(t, []byte("k"), map[string]any{"alg": "HS256", "kid": kid}, claims(nil)),
			b64json(t, map[string]any{"alg": "none", "kid": kid}) + "." + b64json(t, claims(nil)) + ".",
			sign(t, es, header(es, map[string]any{"kid": kid}), claims(nil)),
		} {
			if _, err := v.Verify(context.Background(), tok); err == nil {
				t.Fatal("a token with an unknown kid was accepted")
			}
		}
		clk.add(time.Second) // 200 s in all: a few intervals
	}
	if got := srv.requests.Load() - start; got > 4 {
		t.Fatalf("200 random kids over 200 s made %d JWKS fetches, want at most one a minute", got)
	}
}

// Tokens with huge headers or claims are refused by size before any decoding or key
// lookup, and a header at the limit does not trigger a fetch.
func TestVerifyRefusesHugeTokensBeforeDecoding(t *testing.T) {
	es := newES256(t, "es")
	srv := newJWKSServer(t, jwksFor(t, es))
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), nil)
	start := srv.requests.Load()
	bigHeader := header(es, map[string]any{"kid": strings.Repeat("k", 1<<20)})
	bigClaims := claims(map[string]any{"pad": strings.Repeat("x", 1<<20)})
	for name, tok := range map[string]string{
		"1 MiB kid":     sign(t, es, bigHeader, claims(nil)),
		"1 MiB claim":   sign(t, es, header(es, nil), bigClaims),
		"deep nesting":  base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("[", 12000))) + ".e30.AAAA",
		"many segments": strings.Repeat("a.", 8000) + "a",
	} {
		if _, err := v.Verify(context.Background(), tok); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			wantRefusal(t, err, InvalidToken, "")
		}
	}
	if got := srv.requests.Load() - start; got != 0 {
		t.Fatalf("huge tokens caused %d JWKS fetches", got)
	}
}

// Header parameters that point at keys of the sender's choosing are never followed: a
// token signed by an attacker's key that names it by jku, x5u, an embedded jwk or x5c, or
// by the trusted key's kid, is refused; only the configured key set verifies.
func TestVerifyIgnoresKeysTheTokenPointsAt(t *testing.T) {
	trusted := newES256(t, "trusted")
	srv := newJWKSServer(t, jwksFor(t, trusted))
	attacker := newES256(t, "evil")
	evil := newJWKSServer(t, jwksFor(t, attacker))
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), nil)
	evilJWK := attacker.publicJWK(t, true)
	before := evil.requests.Load()
	for name, hdr := range map[string]map[string]any{
		"jku":           {"jku": evil.URL},
		"x5u":           {"x5u": evil.URL + "/cert.pem"},
		"embedded jwk":  {"jwk": evilJWK},
		"x5c":           {"x5c": []string{"MIIB"}},
		"trusted kid":   {"kid": "trusted"},
		"kid as a path": {"kid": "../../../dev/null"},
		"kid injection": {"kid": "' OR 1=1 --"},
	} {
		tok := sign(t, attacker, header(attacker, hdr), claims(nil))
		if _, err := v.Verify(context.Background(), tok); err == nil {
			t.Errorf("%s: a token signed by the attacker's key passed", name)
		}
	}
	if n := evil.requests.Load() - before; n != 0 {
		t.Errorf("the verifier fetched the attacker's URL %d times", n)
	}
}
