package keys_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

func loadRing(t *testing.T, recs ...*store.SigningKey) *keys.Ring {
	t.Helper()
	r := &keys.Ring{}
	if err := r.Load(recs, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRingVerifiesItsOwnTokensOfEveryAlgorithm(t *testing.T) {
	for _, alg := range []string{keys.ES256, keys.RS256, keys.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			rec, err := keys.Generate(alg, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			ring := loadRing(t, rec)
			tok, err := ring.Signer().Sign([]byte(`{"jti":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			payload, kid, err := ring.Verify(tok)
			if err != nil || string(payload) != `{"jti":"x"}` || kid != rec.ID {
				t.Fatalf("Verify: %q %q %v", payload, kid, err)
			}
			parts := strings.Split(tok, ".")
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[0] ^= 1
			for name, bad := range map[string]string{
				"flipped signature bit": parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig),
				"changed payload":       parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"jti":"y"}`)) + "." + parts[2],
				"alg none":              base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
				"no signature":          parts[0] + "." + parts[1],
				"empty":                 "",
			} {
				if _, _, err := ring.Verify(bad); err == nil {
					t.Errorf("%s verified", name)
				}
			}
		})
	}
}

func TestRingRefusesTokensOfOtherKeysAndKeepsRetiredOnesForTheRetention(t *testing.T) {
	old, _ := keys.Generate(keys.ES256, time.Now().Add(-time.Minute))
	stranger, _ := keys.Generate(keys.ES256, time.Now())
	oldTok, _ := loadRing(t, old).Signer().Sign([]byte(`{}`))
	strangerTok, _ := loadRing(t, stranger).Signer().Sign([]byte(`{}`))

	current, _ := keys.Generate(keys.ES256, time.Now())
	retired := *old
	at := time.Now()
	retired.RetiredAt = &at
	ring := loadRing(t, current, &retired)
	if _, _, err := ring.Verify(oldTok); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}
	if _, _, err := ring.Verify(strangerTok); err == nil {
		t.Fatal("token of a foreign key verified")
	}
	// Past the retention the retired key no longer verifies.
	if err := ring.Load([]*store.SigningKey{current, &retired}, time.Hour, at.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ring.Verify(oldTok); err == nil {
		t.Fatal("token of a key retired past the retention verified")
	}
}
