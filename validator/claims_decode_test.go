package validator

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// referenceClaims is what the verifier did before decodeClaims: encoding/json, then the
// case-variant scan.
func referenceClaims(b []byte) (claimSet, error) {
	var c claimSet
	err := json.Unmarshal(b, &c)
	if err == nil && caseVariantMember(b, claimNames) {
		err = errCaseVariant
	}
	return c, err
}

// knownClaimTwice reports whether the object b names a known claim twice at its top level.
func knownClaimTwice(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if name, ok := tok.(string); ok {
			var c claimSet
			if f, _ := c.field([]byte(name)); f != nil {
				if seen[name] {
					return true
				}
				seen[name] = true
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return false
}

// FuzzDecodeClaimsAgainstJSON: the one-pass decoder accepts what encoding/json accepts
// and decodes it to the same claims, except the deliberate refusals (a known claim given
// twice; claims that are not an object, such as null, which encoding/json decodes to no
// claims at all and the verifier would refuse for lack of iss and exp).
func FuzzDecodeClaimsAgainstJSON(f *testing.F) {
	for _, seed := range []string{
		`{"iss":"https://auth.example.com","sub":"42","aud":["api","x"],"client_id":"c","scope":"read write","jti":"t","iat":1,"nbf":2,"exp":1800003600}`,
		`{"aud":"3","jti":"ab","iat":1700000000.123456,"nbf":1700000000.123456,"exp":1700003600.5,"sub":"","scopes":["*"]}`,
		`{"sub":7,"client_id":12,"scp":"a b","exp":1e9,"extra":{"a":[1,2,{"b":null}],"c":true,"d":false}}`,
		`{"\u0069ss":"x","exp":1}`, `{"ISS":"x"}`, `{"iſs":"x"}`, `{"iss":"a","iss":"b"}`, `{"x":1,"x":2}`,
		`{"iss":"caf\u00e9\ud83d\ude00","scope":"a\tb"}`, "{\"iss\":\"\xff\"}", `{"iss":"a" , "exp" : -0.5e-3 }`,
		` { } `, `null`, `[]`, `{"a":[[[[]]]]}`, `{"a":01}`, `{"a":1.}`, `{"a":"\x"}`, `{"a":tru}`, `{"exp":"1"}`,
		`{"aud":[1]}`, `{"scope":null,"scopes":"x"}`, `{"a":1}x`, `{"a":"b",}`,
		`{"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I","x5t#S256":"b"}}`, `{"cnf":{"jkt":1}}`,
		`{"cnf":"x"}`, `{"cnf":null}`, `{"cnf":{"jkt":"a\u0041","jkt":null,"x5t#S256":null}}`, `{"cnf":{"JKT":"a","jwk":{}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := referenceClaims(b)
		var got claimSet
		gerr := decodeClaims(b, &got)
		switch {
		case errors.Is(gerr, errDuplicateClaim):
			if !knownClaimTwice(b) {
				t.Fatalf("%q: refused as a duplicate, but no known claim is given twice", b)
			}
		case errors.Is(gerr, errNotObject) && werr == nil:
			if !bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
				t.Fatalf("%q: refused as not an object, encoding/json took it", b)
			}
		case (gerr == nil) != (werr == nil):
			t.Fatalf("%q: decodeClaims error %v, encoding/json error %v", b, gerr, werr)
		case gerr == nil && !reflect.DeepEqual(got, want):
			t.Fatalf("%q: decoded\n%+v\nencoding/json\n%+v", b, got, want)
		}
	})
}

// Deep nesting: encoding/json's limit is 10,000; so is ours.
func TestDecodeClaimsNestingLimit(t *testing.T) {
	for _, depth := range []int{9999, 10000, 10001} {
		b := []byte(`{"a":` + string(bytes.Repeat([]byte("["), depth-1)) + string(bytes.Repeat([]byte("]"), depth-1)) + `}`)
		_, werr := referenceClaims(b)
		var c claimSet
		gerr := decodeClaims(b, &c)
		if (gerr == nil) != (werr == nil) {
			t.Errorf("depth %d: ours %v, encoding/json %v", depth, gerr, werr)
		}
	}
}

// BenchmarkDecodeClaims decodes a typical access token's claims (this server's):
//
//	go test -run '^$' -bench DecodeClaims -benchmem ./validator/
func BenchmarkDecodeClaims(b *testing.B) {
	payload := []byte(`{"iss":"https://auth.example.com","sub":"1042","aud":["orders-api"],"client_id":"0193c5e1-8a4b-7c4d-9e2f-3a1b5c7d9e0f","scope":"orders:read orders:write","jti":"0193c5e1a4b27c4d9e2f3a1b5c7d9e0f","iat":1764800000,"nbf":1764800000,"exp":1764803600}`)
	b.Run("one-pass", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var c claimSet
			if err := decodeClaims(payload, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := referenceClaims(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
