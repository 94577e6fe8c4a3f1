package validator

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The seconds.fraction fast path reads exactly what the float path reads (to within the
// float's own rounding), and leaves every other form to the float path and its checks.
func TestNumericDateFractionFastPath(t *testing.T) {
	for _, c := range []struct {
		in        string
		sec, nsec int64
		bad       bool
	}{
		{in: "1764000000.123456", sec: 1764000000, nsec: 123456000},
		{in: "1764000000.5", sec: 1764000000, nsec: 500000000},
		{in: "1764000000.000001", sec: 1764000000, nsec: 1000},
		{in: "1764000000.0", sec: 1764000000},
		{in: "0.000000001", sec: 0, nsec: 1},
		{in: "1.1234567899", sec: 1, nsec: 123456789}, // digits past the nanosecond are dropped
		{in: "1.5e3", sec: 1500},                      // exponent: float path
		{in: "-1.5", sec: -1, nsec: -500000000},       // sign: float path
		{in: "12345678901234567890.5", bad: true},     // past 18 digits: float path, out of range
		{in: "1e300", bad: true},
	} {
		t.Run(c.in, func(t *testing.T) {
			var d numericDate
			err := d.UnmarshalJSON([]byte(c.in))
			if c.bad {
				if err == nil {
					t.Fatalf("accepted as %d.%09d", d.sec, d.nsec)
				}
				return
			}
			if err != nil || !d.set || d.sec != c.sec || d.nsec != c.nsec {
				t.Fatalf("got %d.%09d set=%v err=%v, want %d.%09d", d.sec, d.nsec, d.set, err, c.sec, c.nsec)
			}
			f, _ := strconv.ParseFloat(c.in, 64)
			if got := float64(d.sec) + float64(d.nsec)/1e9; math.Abs(got-f) > 1e-6 {
				t.Fatalf("fast path %v differs from the float %v", got, f)
			}
		})
	}
}

// Passport's scopes array through the fast path decodes as encoding/json decodes it;
// escapes, invalid UTF-8 and non-strings go the general way (and non-strings fail).
func TestScopesArrayFastPathMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`[]`, ` [ ] `, `["a"]`, `["orders:read","orders:write","profile"]`, ` [ "a" , "b" ,"a"] `,
		`["*"]`, `["é","ü"]`, `["a\"b"]`, `["\u0041"]`, `["a\\b"]`, "[\"\xff\"]", `["a b"]`, `[""]`,
		"[\n\t\"a\",\r\n\"b\"\n]", `["a",null]`,
	} {
		t.Run(in, func(t *testing.T) {
			var got scopeList
			if err := got.UnmarshalJSON([]byte(in)); err != nil {
				t.Fatal(err)
			}
			var arr []string
			if err := json.Unmarshal([]byte(in), &arr); err != nil {
				t.Fatal(err)
			}
			var want scopeList
			want.set = true
			want.list = parseJoined(arr)
			if !reflect.DeepEqual(got.list, want.list) || !got.set {
				t.Fatalf("got %q, want %q", got.list, want.list)
			}
		})
	}
	for _, in := range []string{`[1]`, `["a",1]`, `[["a"]]`, `[{"a":1}]`, `["a",true]`} {
		var l scopeList
		if err := l.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("%s accepted as %q", in, l.list)
		}
	}
}

// FuzzScopesArrayFastPath checks the fast path against encoding/json on any valid JSON.
func FuzzScopesArrayFastPath(f *testing.F) {
	for _, s := range []string{`["a","b"]`, `[]`, `["\u00e9"]`, `[ "x" ]`, `["a",1]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return
		}
		arr, ok := plainStringArray([]byte(in))
		var ref []string
		err := json.Unmarshal([]byte(in), &ref)
		if !ok {
			return // the general path decides
		}
		if err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", in, err)
		}
		if len(arr) != len(ref) || (len(arr) > 0 && !reflect.DeepEqual(arr, ref)) {
			t.Fatalf("%q: fast %q, encoding/json %q", in, arr, ref)
		}
	})
}

func parseJoined(arr []string) []string {
	var l scopeList
	b, _ := json.Marshal(arr)
	if arr == nil {
		b = []byte("[]")
	}
	_ = json.Unmarshal(b, &l)
	return l.list
}

// The remembered header is only a shortcut: a token whose header differs in any byte is
// decoded and checked afresh, so a good token seen first never vouches for the next.
// Concurrent verifies of tokens with different headers all get their own answer.
func TestHeaderMemoNeverVouchesForAnotherHeader(t *testing.T) {
	k := newPassportKeys(t, 2048)
	v := newVerifier(t, newSource(t, k.file, KeySourceOptions{}), func(o *JWTOptions) { o.Issuer, o.Passport = "", true })
	good := k.passportToken("7", "*")
	cl := map[string]any{"aud": "3", "sub": "7", "exp": testNow.Add(time.Hour).Unix()}
	bad := map[string]string{
		"typ dpop+jwt":   k.signed(t, "dpop+jwt", cl),
		"crit":           k.SignCompact(`{"typ":"JWT","alg":"RS256","crit":["exp"]}`, string(mustJSON(t, cl))),
		"kid":            k.SignCompact(`{"typ":"JWT","alg":"RS256","kid":"x"}`, string(mustJSON(t, cl))),
		"alg none":       b64json(t, map[string]any{"typ": "JWT", "alg": "none"}) + "." + b64json(t, cl) + ".",
		"header not b64": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9$" + good[len("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9"):],
	}
	for name, tok := range bad {
		if _, err := v.Verify(context.Background(), good); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok); err == nil {
			t.Errorf("%s accepted right after a good token", name)
		}
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				if (i+j)%2 == 0 {
					if _, err := v.Verify(context.Background(), good); err != nil {
						t.Error(err)
						return
					}
				} else if _, err := v.Verify(context.Background(), bad["typ dpop+jwt"]); err == nil {
					t.Error("dpop+jwt accepted")
					return
				}
			}
		}()
	}
	wg.Wait()
}
