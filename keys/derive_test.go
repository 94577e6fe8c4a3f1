package keys

import (
	"bytes"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Two signers made from one stored key (two nodes) derive the same secret for a label;
// another label, or another key, derives an unrelated one, and none is the key itself.
func TestDeriveSecretIsSharedByTheKeyOnlyAndSeparatedByLabel(t *testing.T) {
	for _, alg := range []string{ES256, RS256, EdDSA} {
		rec, err := Generate(alg, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		other, err := Generate(alg, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		derive := func(r *store.SigningKey, label string) []byte {
			t.Helper()
			s, err := NewSigner(r, TypAccessToken)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.DeriveSecret(label)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		a, b := derive(rec, "dpop nonce"), derive(rec, "dpop nonce")
		if len(a) != 32 || !bytes.Equal(a, b) {
			t.Errorf("%s: one key derives %x and %x", alg, a, b)
		}
		if bytes.Equal(a, derive(rec, "another purpose")) || bytes.Equal(a, derive(other, "dpop nonce")) {
			t.Errorf("%s: the secret does not depend on the label and the key", alg)
		}
		if bytes.Contains(rec.PrivatePEM, a) {
			t.Errorf("%s: the secret is part of the key", alg)
		}
	}
}
