package phpencryption_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/phpencryption"
)

// The encryption side (internal/laravel) is written from the library's format description
// on its own; the two agreeing, and each refusing what the other did not make, is the
// check. (Both were also checked against defuse/php-encryption 2.4.0 under PHP 8.2 in
// both directions when this was written; PHP is not part of the test run.)
func TestDecryptsWhatTheLibraryEncrypts(t *testing.T) {
	password := []byte("the decoded APP_KEY, 32 bytes...")
	for _, plain := range []string{"", "x", `{"client_id":"1","refresh_token_id":"ab","scopes":["*"]}`, strings.Repeat("long ", 500)} {
		c, err := phpencryption.Parse(laravel.EncryptWithPassword(password, []byte(plain)))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		got, err := c.DecryptWithPassword(password)
		if err != nil || string(got) != plain {
			t.Fatalf("decrypted %q, %v; want %q", got, err, plain)
		}
	}
}

func TestRefusesAnotherKeyAndEveryModifiedByte(t *testing.T) {
	password := []byte("app key")
	text := laravel.EncryptWithPassword(password, []byte("secret payload"))
	c, err := phpencryption.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DecryptWithPassword([]byte("app kez")); !errors.Is(err, phpencryption.ErrWrongKeyOrModified) {
		t.Fatalf("another key: %v", err)
	}
	raw, _ := hex.DecodeString(text)
	// One flipped bit in the salt, the iv, the body and the MAC (the header is Parse's).
	for _, at := range []int{4, 4 + 31, 36, 36 + 15, 52, len(raw) - 33, len(raw) - 1} {
		mod := bytes.Clone(raw)
		mod[at] ^= 0x01
		c, err := phpencryption.Parse(hex.EncodeToString(mod))
		if err != nil {
			t.Fatalf("byte %d: Parse: %v", at, err)
		}
		if p, err := c.DecryptWithPassword(password); !errors.Is(err, phpencryption.ErrWrongKeyOrModified) {
			t.Errorf("byte %d modified: decrypted %q, %v", at, p, err)
		}
	}
	// Cut short by a byte (the MAC moves) or with a byte added.
	for _, mod := range [][]byte{raw[:len(raw)-1], append(bytes.Clone(raw), 0)} {
		if c, err := phpencryption.Parse(hex.EncodeToString(mod)); err == nil {
			if _, err := c.DecryptWithPassword(password); !errors.Is(err, phpencryption.ErrWrongKeyOrModified) {
				t.Errorf("length %d: %v", len(mod), err)
			}
		}
	}
}

func TestParseRefusesWhatCannotBeACiphertextWithoutDerivingAKey(t *testing.T) {
	good := laravel.EncryptWithPassword([]byte("k"), []byte("p"))
	legacy := "cfdad83ebd506d2c" + good[16:] // a v1 ciphertext has no version header
	for name, text := range map[string]string{
		"empty":         "",
		"opaque token":  strings.Repeat("ab", 40),
		"too short":     good[:2*84-2],
		"not hex":       "def50200" + strings.Repeat("zz", 100),
		"odd length":    good + "0",
		"legacy v1":     legacy,
		"key header":    "def00000" + good[8:],
		"over the size": "def50200" + strings.Repeat("00", phpencryption.MaxHexLength/2),
		"uppercase JWT": "eyJhbGciOiJSUzI1NiJ9.e30.sig",
	} {
		if _, err := phpencryption.Parse(text); !errors.Is(err, phpencryption.ErrNotCiphertext) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := phpencryption.Parse(good); err != nil {
		t.Fatalf("a good one: %v", err)
	}
}

// BenchmarkDecryptWithPassword is the CPU one Passport refresh token costs to decrypt
// (one PBKDF2-SHA256 of 100,000 rounds dominates).
func BenchmarkDecryptWithPassword(b *testing.B) {
	_, key := laravel.NewAppKey()
	text := laravel.EncryptRefreshToken(key, laravel.RefreshToken{ClientID: "1", RefreshTokenID: laravel.NewTokenID(),
		AccessTokenID: laravel.NewTokenID(), Scopes: []string{"orders:read"}, UserID: 7})
	for b.Loop() {
		c, err := phpencryption.Parse(text)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.DecryptWithPassword(key); err != nil {
			b.Fatal(err)
		}
	}
}
