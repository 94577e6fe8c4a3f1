package keys_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/keys"
)

// Passport's tokens carry no kid; once its RSA key is in the ring they verify, and
// nothing else about a kid-less header is taken on trust.
func TestRingVerifiesPassportsKidlessTokensOnlyInTheirExactShape(t *testing.T) {
	kp, err := laravel.NewKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := keys.Record(kp.Private, keys.RS256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ring := loadRing(t, rec)
	now := time.Now()
	tok := kp.Mint(laravel.AccessToken{ID: laravel.NewTokenID(), ClientID: "1", UserID: "7", IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	if _, kid, err := ring.Verify(tok); err != nil || kid != rec.ID {
		t.Fatalf("Passport token: kid %q, %v", kid, err)
	}
	payload := `{"aud":"1","jti":"x","sub":"7"}`
	other, _ := laravel.NewKeyPair(2048)
	enc := base64.RawURLEncoding.EncodeToString
	for name, token := range map[string]string{
		"with a jti in the header": kp.SignCompact(`{"typ":"JWT","alg":"RS256","jti":"x"}`, payload),
		"without typ":              kp.SignCompact(`{"alg":"RS256"}`, payload),
	} {
		if _, _, err := ring.Verify(token); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, token := range map[string]string{
		"another key":          other.Mint(laravel.AccessToken{ID: "x", ClientID: "1", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}),
		"alg none":             enc([]byte(`{"typ":"JWT","alg":"none"}`)) + "." + enc([]byte(payload)) + ".",
		"HS256":                kp.SignCompact(`{"typ":"JWT","alg":"HS256"}`, payload),
		"embedded jwk":         kp.SignCompact(`{"typ":"JWT","alg":"RS256","jwk":{}}`, payload),
		"jku":                  kp.SignCompact(`{"typ":"JWT","alg":"RS256","jku":"https://evil"}`, payload),
		"crit":                 kp.SignCompact(`{"typ":"JWT","alg":"RS256","crit":["x"]}`, payload),
		"a foreign kid":        kp.SignCompact(`{"typ":"JWT","alg":"RS256","kid":"other"}`, payload),
		"another typ":          kp.SignCompact(`{"typ":"id+jwt","alg":"RS256"}`, payload),
		"payload swapped":      tok[:len(tok)-10] + "AAAAAAAAAA",
		"header not json":      enc([]byte(`nope`)) + "." + enc([]byte(payload)) + ".c2ln",
		"header not base64url": "!!." + enc([]byte(payload)) + ".c2ln",
	} {
		if _, _, err := ring.Verify(token); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	// An EC-only ring never looks at kid-less headers.
	ec, err := keys.Generate(keys.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadRing(t, ec).Verify(tok); err == nil {
		t.Error("an ES256 ring verified a Passport token")
	}
}
