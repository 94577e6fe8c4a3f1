package validator

import (
	"context"
	"testing"
	"time"
)

// A signed token whose claims or header spell a known member in another case (or with a
// letter encoding/json folds onto ASCII, or through an escape) is refused: those names are
// case-sensitive, and only exact members count.
func TestCaseVariantMemberNamesAreRefused(t *testing.T) {
	key := newES256(t, "k1")
	srv := newJWKSServer(t, jwksFor(t, key))
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), nil)
	if _, err := v.Verify(context.Background(), sign(t, key, header(key, nil), claims(nil))); err != nil {
		t.Fatalf("the untouched token: %v", err)
	}
	for name, tok := range map[string]string{
		"ISS":              sign(t, key, header(key, nil), claims(map[string]any{"iss": nil, "ISS": testIssuer})),
		"Exp":              sign(t, key, header(key, nil), claims(map[string]any{"exp": nil, "Exp": testNow.Add(time.Hour).Unix()})),
		"long s in sub":    sign(t, key, header(key, nil), claims(map[string]any{"ſub": "7"})),
		"Kelvin in kid":    sign(t, key, header(key, map[string]any{"kid": nil, "\u212aid": "k1"}), claims(nil)),
		"escaped ISS":      rawSigned(t, key, `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, `{"\u0049SS":"`+testIssuer+`","iss":"`+testIssuer+`","exp":1800003600}`),
		"ALG beside alg":   sign(t, key, header(key, map[string]any{"ALG": "none"}), claims(nil)),
		"Scope over scope": sign(t, key, header(key, nil), claims(map[string]any{"Scope": "admin"})),
	} {
		if _, err := v.Verify(context.Background(), tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A value that happens to spell a claim name in another case is fine; an escape in
	// a value too.
	for name, tok := range map[string]string{
		"value ISS":     sign(t, key, header(key, nil), claims(map[string]any{"sub": "ISS", "scope": "Scope Exp"})),
		"escaped value": rawSigned(t, key, `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`, `{"iss":"https:\/\/auth.example.com","exp":1800003600}`),
	} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// rawSigned signs header and claims given as JSON text, escapes as written.
func rawSigned(t *testing.T, key *testKey, hdr, cl string) string {
	t.Helper()
	input := b64.EncodeToString([]byte(hdr)) + "." + b64.EncodeToString([]byte(cl))
	return input + "." + b64.EncodeToString(signRaw(t, key, key.alg, input))
}

// A signed token naming a known claim twice is refused, whichever value comes last (RFC
// 7519 §4 lets a parser refuse it; encoding/json would have kept the last, so a second
// "sub" or "scope" appended after the first could change who the token is for); an
// unknown claim given twice is left alone, as before.
func TestDuplicateClaimNamesAreRefused(t *testing.T) {
	key := newES256(t, "k1")
	srv := newJWKSServer(t, jwksFor(t, key))
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), nil)
	const hdr = `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`
	for name, cl := range map[string]string{
		"sub twice":   `{"iss":"` + testIssuer + `","sub":"7","exp":1800003600,"sub":"1"}`,
		"scope twice": `{"iss":"` + testIssuer + `","scope":"read","exp":1800003600,"scope":"admin"}`,
		"iss twice":   `{"iss":"https://evil.example","iss":"` + testIssuer + `","exp":1800003600}`,
	} {
		_, err := v.Verify(context.Background(), rawSigned(t, key, hdr, cl))
		wantRefusal(t, err, InvalidToken, "malformed token claims")
		_ = name
	}
	tok := rawSigned(t, key, hdr, `{"iss":"`+testIssuer+`","exp":1800003600,"x":1,"x":2}`)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("an unknown claim given twice: %v", err)
	}
}

// A token bound to a key (a cnf claim, RFC 7800) keeps its binding: DPoP's jkt and a
// certificate's x5t#S256 go into the identity, for the Guard to check against the request
// (TestGuardDPoP..., TestGuardCertificateBound...); any other confirmation method, or none
// named, binds the token to something the guard cannot check, and it is refused (RFC
// 9449 §7.2, RFC 8705 §3), however its cnf is written. cnf null is no confirmation, and
// the claim's name is matched exactly, as every claim's is.
func TestKeyBoundTokensAreNotBearerTokens(t *testing.T) {
	key := newES256(t, "k1")
	srv := newJWKSServer(t, jwksFor(t, key))
	v := newVerifier(t, newSource(t, srv.URL, KeySourceOptions{}), nil)
	const hdr = `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`
	for name, cnf := range map[string]string{
		"a jwk":       `{"jwk":{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}}`,
		"empty":       `{}`,
		"empty jkt":   `{"jkt":""}`,
		"JKT":         `{"JKT":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}`,
		"not an obj":  `"x"`,
		"jkt numeric": `{"jkt":7}`,
	} {
		_, err := v.Verify(context.Background(), rawSigned(t, key, hdr, `{"iss":"`+testIssuer+`","exp":1800003600,"cnf":`+cnf+`}`))
		if name == "jkt numeric" {
			wantRefusal(t, err, InvalidToken, "malformed token claims")
			continue
		}
		wantRefusal(t, err, InvalidToken, "the token is bound (cnf claim) by a confirmation method this guard cannot check")
	}
	for cnf, want := range map[string][2]string{
		`{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}`:               {"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", ""},
		`{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2","jwk":{}}`: {"", "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"},
		`{"jkt":"a\u002db","x5t#S256":"c"}`:                                   {"a-b", "c"},
	} {
		id, err := v.Verify(context.Background(), rawSigned(t, key, hdr, `{"iss":"`+testIssuer+`","exp":1800003600,"cnf":`+cnf+`}`))
		if err != nil {
			t.Fatalf("cnf %s: %v", cnf, err)
		}
		if id.DPoPKey() != want[0] || id.CertificateThumbprint() != want[1] {
			t.Fatalf("cnf %s: jkt %q x5t %q, want %q", cnf, id.DPoPKey(), id.CertificateThumbprint(), want)
		}
	}
	if _, err := v.Verify(context.Background(), rawSigned(t, key, hdr, `{"iss":"`+testIssuer+`","exp":1800003600,"cnf":null}`)); err != nil {
		t.Fatalf("cnf null: %v", err)
	}
	_, err := v.Verify(context.Background(), rawSigned(t, key, hdr, `{"iss":"`+testIssuer+`","exp":1800003600,"CNF":{"jkt":"x"}}`))
	wantRefusal(t, err, InvalidToken, "malformed token claims")
	_, err = v.Verify(context.Background(), rawSigned(t, key, hdr, `{"iss":"`+testIssuer+`","exp":1800003600,"cnf":null,"cnf":{"jkt":"x"}}`))
	wantRefusal(t, err, InvalidToken, "malformed token claims")
}
