package authserver

import (
	"crypto/rand"
	"strings"
)

// userCodeAlphabet is RFC 8628 §6.1's example character set: 20 consonants, no vowels
// (so no words are spelt) and no digits (so nothing is confused with a letter), easy to
// type on a phone keyboard.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// userCodeLen is the number of characters in a user code: 20^8, about 2^34.6 codes,
// which with the brute-force throttle of the device page (RFC 8628 §5.1) leaves a guesser
// a negligible chance during a code's 10 minutes.
const userCodeLen = 8

// newUserCode draws a user code uniformly from the alphabet, in its normalised form
// (no dash).
func newUserCode() string {
	b := make([]byte, 0, userCodeLen)
	var buf [16]byte
	for len(b) < userCodeLen {
		if _, err := rand.Read(buf[:]); err != nil {
			panic("crypto/rand failed: " + err.Error())
		}
		for _, x := range buf {
			// 240 is the largest multiple of 20 below 256: rejecting bytes above it keeps
			// every letter equally likely.
			if x < 240 && len(b) < userCodeLen {
				b = append(b, userCodeAlphabet[x%20])
			}
		}
	}
	return string(b)
}

// normaliseUserCode turns what a person typed into the form a user code is stored under:
// upper case, without the dashes and spaces people type or copy with it. ok is false
// when the result cannot be a user code (wrong length or a character outside the
// alphabet), so no lookup is needed.
func normaliseUserCode(typed string) (code string, ok bool) {
	if len(typed) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, c := range typed {
		switch {
		case c == '-' || c == ' ' || c == '\t' || c == '\u00a0':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		if c > 0x7f || !strings.ContainsRune(userCodeAlphabet, c) {
			return "", false
		}
		b.WriteRune(c)
	}
	if b.Len() != userCodeLen {
		return "", false
	}
	return b.String(), true
}

// formatUserCode shows a normalised user code as people read it: XXXX-XXXX.
func formatUserCode(code string) string {
	if len(code) != userCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// userCodeDigest is the stored form of a normalised user code.
func userCodeDigest(code string) string { return Digest(code) }
