package validator

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
	"unsafe"
)

// decodeClaims fills c from a verified JWT payload in one pass over it. It is the guard's
// hot path for a token it has not seen: encoding/json took 4.7 µs for a typical access
// token's claims and the case-variant scan (json_names.go) 1.5 µs more, of a guard's
// whole 11 µs beyond the signature (CPU profile of the guard under new tokens, RS256,
// bench/guard_cost.sh); this takes under 1 µs (BenchmarkDecodeClaims). No JSON library
// we may depend on decodes into a struct without a reflection pass per field.
//
// It accepts exactly the JSON that encoding/json accepts (RFC 8259: one object, any
// members, nesting at most 10,000 deep, no trailing data), and gives each known claim the
// same decoding: the raw bytes of the member's value go to the same UnmarshalJSON method
// encoding/json would call. Two differences, both refusals (FuzzDecodeClaimsAgainstJSON
// checks that there are no others):
//   - a known claim name given twice is refused, where encoding/json keeps the last
//     (RFC 7519 §4: a parser must reject duplicate claim names or keep the last);
//   - a member whose name matches a known claim only case-insensitively is refused
//     (errCaseVariant), as before.
func decodeClaims(b []byte, c *claimSet) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errNotObject
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	var seen uint16
	for {
		if i >= len(b) || b[i] != '"' {
			return errSyntax
		}
		end, plain, err := scanString(b, i)
		if err != nil {
			return err
		}
		name := b[i+1 : end]
		if !plain {
			if name, err = unquote(b[i : end+1]); err != nil {
				return err
			}
		}
		i = skipSpace(b, end+1)
		if i >= len(b) || b[i] != ':' {
			return errSyntax
		}
		i = skipSpace(b, i+1)
		var vend int
		plainString := false
		if i < len(b) && b[i] == '"' {
			end, plain, err := scanString(b, i)
			if err != nil {
				return err
			}
			vend, plainString = end+1, plain
		} else if vend, err = skipValue(b, i, 1); err != nil {
			return err
		}
		if field, bit := c.field(name); field != nil {
			if seen&bit != 0 {
				return errDuplicateClaim
			}
			seen |= bit
			if !plainString || !setPlainString(field, b[i+1:vend-1]) {
				if err := field.UnmarshalJSON(b[i:vend]); err != nil {
					return err
				}
			}
		} else if len(name) > 0 && mayStartName[name[0]] && isCaseVariant(string(name), claimNames) {
			return errCaseVariant
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return errSyntax
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return trailing(b, i+1)
		default:
			return errSyntax
		}
	}
}

var (
	errNotObject      = errors.New("claims are not a JSON object")
	errSyntax         = errors.New("invalid JSON in claims")
	errTooDeep        = errors.New("claims nested too deep")
	errDuplicateClaim = errors.New("a claim is given twice")
)

// setPlainString gives a known claim the value of a JSON string without escapes or
// invalid UTF-8 (v, its bytes between the quotes), as its UnmarshalJSON would, except that
// the strings point into the payload instead of being copied: decodeClaims' callers own
// the payload and never write to it (it becomes the identity's claims), and what the
// token cache keeps is copied (TokenCache.set, grantInterner.intern). It reports false for
// a claim that takes no string (a NumericDate), left to its UnmarshalJSON to refuse.
func setPlainString(field json.Unmarshaler, v []byte) bool {
	str := unsafe.String(unsafe.SliceData(v), len(v))
	switch f := field.(type) {
	case *flexString:
		*f = flexString(str)
	case *subjectClaim:
		*f = subjectClaim(str)
	case *audience:
		*f = audience{str}
	case *scopeList:
		f.setString(str)
	default:
		return false
	}
	return true
}

// maxNesting is encoding/json's limit on nested arrays and objects.
const maxNesting = 10000

// unquote decodes a JSON string with escapes or invalid UTF-8 as encoding/json does.
func unquote(quoted []byte) ([]byte, error) {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// field returns the decoder of a known claim and its bit, or nil.
func (c *claimSet) field(name []byte) (json.Unmarshaler, uint16) {
	switch string(name) {
	case "iss":
		return &c.Iss, 1 << 0
	case "sub":
		return &c.Sub, 1 << 1
	case "aud":
		return &c.Aud, 1 << 2
	case "exp":
		return &c.Exp, 1 << 3
	case "nbf":
		return &c.Nbf, 1 << 4
	case "jti":
		return &c.Jti, 1 << 5
	case "client_id":
		return &c.ClientID, 1 << 6
	case "azp":
		return &c.Azp, 1 << 7
	case "scope":
		return &c.Scope, 1 << 8
	case "scopes":
		return &c.Scopes, 1 << 9
	case "scp":
		return &c.Scp, 1 << 10
	case "provider":
		return &c.Provider, 1 << 11
	case "cnf":
		return &c.Cnf, 1 << 12
	}
	return nil, 0
}

// trailing accepts only white space after the object.
func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errSyntax
	}
	return nil
}

// scanString checks the JSON string that starts at b[i] (a quote) and returns the index
// of its closing quote, and whether it is plain: no escape and valid UTF-8, so its bytes
// are its value.
func scanString(b []byte, i int) (end int, plain bool, err error) {
	plain = true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if plain && !utf8.Valid(b[i+1:j]) {
				plain = false
			}
			return j, plain, nil
		case c < 0x20:
			return 0, false, errSyntax
		case c == '\\':
			plain = false
			j++
			if j >= len(b) {
				return 0, false, errSyntax
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) {
					return 0, false, errSyntax
				}
				for _, h := range b[j+1 : j+5] {
					if !isHex(h) {
						return 0, false, errSyntax
					}
				}
				j += 4
			default:
				return 0, false, errSyntax
			}
		}
	}
	return 0, false, errSyntax
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// skipValue checks the JSON value that starts at b[i] and returns the index just past it.
// depth is the nesting of the value's container.
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end + 1, err
	case c == '{' || c == '[':
		if depth+1 > maxNesting {
			return 0, errTooDeep
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return 0, errSyntax
				}
				end, _, err := scanString(b, i)
				if err != nil {
					return 0, err
				}
				i = skipSpace(b, end+1)
				if i >= len(b) || b[i] != ':' {
					return 0, errSyntax
				}
				i = skipSpace(b, i+1)
			}
			end, err := skipValue(b, i, depth+1)
			if err != nil {
				return 0, err
			}
			i = skipSpace(b, end)
			if i >= len(b) {
				return 0, errSyntax
			}
			if b[i] == closer {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errSyntax
			}
			i = skipSpace(b, i+1)
		}
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || '0' <= c && c <= '9':
		return scanNumber(b, i)
	}
	return 0, errSyntax
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errSyntax
	}
	return i + len(lit), nil
}

// scanNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func scanNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return 0, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return 0, errSyntax
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return 0, errSyntax
		}
		i = j
	}
	return i, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
