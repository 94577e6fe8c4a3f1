package authserver

import (
	"strings"
	"testing"
)

func TestUserCodesAreNormalisedBeforeLookup(t *testing.T) {
	for _, c := range []struct {
		typed, want string
		ok          bool
	}{
		{"BCDF-GHJK", "BCDFGHJK", true},
		{"bcdf-ghjk", "BCDFGHJK", true},
		{"  bcdf ghjk ", "BCDFGHJK", true},
		{"BcDfGhJk", "BCDFGHJK", true},
		{"B-C-D-F-G-H-J-K", "BCDFGHJK", true},
		{"BCDF-GHJ", "", false},       // too short
		{"BCDF-GHJKL", "", false},     // too long
		{"ABCD-EFGH", "", false},      // vowels are not in the alphabet
		{"BCDF-GHJ1", "", false},      // nor digits
		{"BCDF-GHJ\u212a", "", false}, // the Kelvin sign is not a K
		{"BCDF_GHJK", "", false},      // only dashes and spaces are dropped
		{strings.Repeat("B", 100), "", false},
	} {
		got, ok := normaliseUserCode(c.typed)
		if got != c.want || ok != c.ok {
			t.Errorf("normaliseUserCode(%q) = %q, %v; want %q, %v", c.typed, got, ok, c.want, c.ok)
		}
	}
}

func TestNewUserCodesUseTheRFC8628AlphabetAndLength(t *testing.T) {
	seen := map[byte]bool{}
	for range 2000 {
		code := newUserCode()
		if len(code) != userCodeLen {
			t.Fatalf("code %q has %d characters", code, len(code))
		}
		for i := range len(code) {
			if !strings.ContainsRune(userCodeAlphabet, rune(code[i])) {
				t.Fatalf("code %q has %q, outside the alphabet", code, code[i])
			}
			seen[code[i]] = true
		}
		if norm, ok := normaliseUserCode(formatUserCode(code)); !ok || norm != code {
			t.Fatalf("formatted code %q does not normalise back to %q", formatUserCode(code), code)
		}
	}
	if len(seen) != len(userCodeAlphabet) {
		t.Errorf("16,000 characters drawn used only %d of the %d letters", len(seen), len(userCodeAlphabet))
	}
}
