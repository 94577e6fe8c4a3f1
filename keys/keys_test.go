package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Every selectable algorithm makes a key whose tokens verify against the published JWKS,
// with kid, alg and typ in the header.
func TestGeneratedKeysSignTokensTheJWKSVerifies(t *testing.T) {
	for _, alg := range []string{ES256, RS256, EdDSA} {
		t.Run(alg, func(t *testing.T) {
			rec, err := Generate(alg, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if rec.Alg != alg || rec.ID == "" || !strings.Contains(string(rec.PrivatePEM), "PRIVATE KEY") {
				t.Fatalf("record %+v", rec)
			}
			priv, err := ParsePrivatePEM(rec.PrivatePEM)
			if err != nil {
				t.Fatal(err)
			}
			if kid, _ := Thumbprint(priv.Public()); kid != rec.ID {
				t.Fatalf("kid %q is not the key's thumbprint %q", rec.ID, kid)
			}
			ring := &Ring{}
			if err := ring.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
				t.Fatal(err)
			}
			tok, err := ring.Signer().Sign([]byte(`{"sub":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			set, err := jwk.Parse(ring.JWKS())
			if err != nil {
				t.Fatal(err)
			}
			payload, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithRequireKid(true)))
			if err != nil || string(payload) != `{"sub":"x"}` {
				t.Fatalf("verify: %v %s", err, payload)
			}
			msg, _ := jws.Parse([]byte(tok))
			h := msg.Signatures()[0].ProtectedHeaders()
			if h.Algorithm().String() != alg || h.KeyID() != rec.ID || h.Type() != "at+jwt" {
				t.Fatalf("header alg %s kid %s typ %s", h.Algorithm(), h.KeyID(), h.Type())
			}
			k, _ := set.Key(0)
			if k.KeyID() != rec.ID || k.Algorithm().String() != alg || k.KeyUsage() != "sig" {
				t.Fatalf("published key kid %s alg %s use %s", k.KeyID(), k.Algorithm(), k.KeyUsage())
			}
			for _, priv := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
				if strings.Contains(string(ring.JWKS()), priv+":") {
					t.Fatalf("JWKS publishes private member %s", priv)
				}
			}
		})
	}
}

func TestGenerateRefusesOtherAlgorithms(t *testing.T) {
	for _, alg := range []string{"", "none", "HS256", "ES384", "PS256", "es256"} {
		if _, err := Generate(alg, time.Now()); err == nil || ValidAlg(alg) {
			t.Errorf("Generate(%q) accepted", alg)
		}
	}
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// `keys <dir>` reads our private.pem or Laravel Passport's oauth-private.key, in PKCS#8,
// PKCS#1 or SEC 1, and takes the algorithm from the key.
func TestLoadDirReadsOurAndPassportKeyFiles(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k crypto.Signer) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	cases := []struct {
		name, file, typ string
		der             []byte
		alg             string
		pub             crypto.PublicKey
	}{
		{"Passport RSA, PKCS#1", "oauth-private.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), RS256, rsaKey.Public()},
		{"Passport RSA, PKCS#8", "oauth-private.key", "PRIVATE KEY", pkcs8(rsaKey), RS256, rsaKey.Public()},
		{"EC P-256, SEC 1", "private.pem", "EC PRIVATE KEY", sec1, ES256, ecKey.Public()},
		{"EC P-256, PKCS#8", "private.pem", "PRIVATE KEY", pkcs8(ecKey), ES256, ecKey.Public()},
		{"Ed25519, PKCS#8", "private.pem", "PRIVATE KEY", pkcs8(edKey), EdDSA, edKey.Public()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writePEM(t, dir, c.file, c.typ, c.der)
			rec, err := LoadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Thumbprint(c.pub)
			if rec.Alg != c.alg || rec.ID != want {
				t.Fatalf("alg %s kid %s, want %s %s", rec.Alg, rec.ID, c.alg, want)
			}
			// Every node loading the same file gets the same kid.
			again, _ := LoadDir(dir)
			if again.ID != rec.ID {
				t.Fatal("kid differs between loads of one file")
			}
			ring := &Ring{}
			if err := ring.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
				t.Fatalf("ring refuses the loaded key: %v", err)
			}
		})
	}

	t.Run("private.pem wins over oauth-private.key", func(t *testing.T) {
		dir := t.TempDir()
		writePEM(t, dir, "oauth-private.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
		writePEM(t, dir, "private.pem", "EC PRIVATE KEY", sec1)
		if rec, err := LoadDir(dir); err != nil || rec.Alg != ES256 {
			t.Fatalf("%v %v", rec, err)
		}
	})
}

func TestLoadDirErrorsNameTheFile(t *testing.T) {
	weakRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384der, _ := x509.MarshalECPrivateKey(p384)

	empty := t.TempDir()
	if _, err := LoadDir(empty); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty folder: %v", err)
	}
	for name, write := range map[string]func(dir string){
		"not PEM": func(dir string) {
			_ = os.WriteFile(filepath.Join(dir, "private.pem"), []byte("hello"), 0o600)
		},
		"a public key": func(dir string) {
			der, _ := x509.MarshalPKIXPublicKey(p384.Public())
			writePEM(t, dir, "private.pem", "PUBLIC KEY", der)
		},
		"RSA under 2048 bits": func(dir string) {
			writePEM(t, dir, "oauth-private.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(weakRSA))
		},
		"EC P-384": func(dir string) { writePEM(t, dir, "private.pem", "EC PRIVATE KEY", p384der) },
	} {
		dir := t.TempDir()
		write(dir)
		if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The current key signs; it and keys retired within the retention are published, older
// ones are dropped.
func TestRingPublishesRetiredKeysForTheirRetention(t *testing.T) {
	now := time.Now()
	mk := func(age time.Duration, retiredAgo *time.Duration) *store.SigningKey {
		rec, err := Generate(ES256, now.Add(-age))
		if err != nil {
			t.Fatal(err)
		}
		if retiredAgo != nil {
			at := now.Add(-*retiredAgo)
			rec.RetiredAt = &at
		}
		return rec
	}
	recent, old := 30*time.Minute, 3*time.Hour
	current := mk(0, nil)
	justRetired := mk(time.Hour, &recent)
	longRetired := mk(4*time.Hour, &old)

	ring := &Ring{}
	if err := ring.Load([]*store.SigningKey{longRetired, justRetired, current}, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if ring.Signer().KeyID() != current.ID {
		t.Errorf("signer %s, want the current key", ring.Signer().KeyID())
	}
	if got := ring.PublishedKeyIDs(); !slices.Equal(got, []string{current.ID, justRetired.ID}) {
		t.Errorf("published %v, want current then the recently retired key", got)
	}
	if err := (&Ring{}).Load([]*store.SigningKey{justRetired}, time.Hour, now); err == nil {
		t.Error("a ring with no current key loaded")
	}
	// A stored alg that does not fit the key is refused rather than signing wrongly.
	bad := mk(0, nil)
	bad.Alg = RS256
	if err := (&Ring{}).Load([]*store.SigningKey{bad}, time.Hour, now); err == nil {
		t.Error("a key whose stored alg does not fit loaded")
	}
}

// keys.Follow reloads the ring every 30 seconds. A reload that finds the same keys must
// keep the ring's state (the JWKS document is the generation the authorization server's
// verified-token cache is keyed on), and one that finds another key must replace it.
func TestReloadWithTheSameKeysKeepsTheState(t *testing.T) {
	now := time.Now()
	rec, err := Generate(ES256, now)
	if err != nil {
		t.Fatal(err)
	}
	var r Ring
	if err := r.Load([]*store.SigningKey{rec}, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	before := &r.JWKS()[0]
	if err := r.Load([]*store.SigningKey{rec}, time.Hour, now.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if &r.JWKS()[0] != before {
		t.Error("reloading the same keys replaced the ring's state")
	}
	next, err := Generate(ES256, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	retired := *rec
	at := now.Add(time.Minute)
	retired.RetiredAt = &at
	if err := r.Load([]*store.SigningKey{&retired, next}, time.Hour, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if &r.JWKS()[0] == before || r.Signer().KeyID() != next.ID {
		t.Error("a rotation did not replace the ring's state")
	}
}

// The ID-token key signs tokens typed JWT under its own kid, is published for relying
// parties, and is never taken for an access token's key: Verify refuses an ID token even
// though its signature is good (RFC 8725 §3.11), while access tokens verify as before.
func TestIDTokenKeyIsPublishedButNeverVerifiesAnAccessToken(t *testing.T) {
	now := time.Now()
	access, err := Generate(ES256, now)
	if err != nil {
		t.Fatal(err)
	}
	id, err := Generate(RS256, now)
	if err != nil {
		t.Fatal(err)
	}
	id.Purpose = store.KeyPurposeIDToken
	ring := &Ring{}
	if err := ring.Load([]*store.SigningKey{id, access}, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if ring.Signer().KeyID() != access.ID || ring.IDTokenSigner().KeyID() != id.ID || ring.IDTokenSigner().Alg() != RS256 {
		t.Fatalf("signers: access %s, ID token %s", ring.Signer().KeyID(), ring.IDTokenSigner().KeyID())
	}
	if got := ring.PublishedKeyIDs(); !slices.Contains(got, id.ID) || !slices.Contains(got, access.ID) {
		t.Fatalf("published %v, want both keys", got)
	}
	idToken, err := ring.IDTokenSigner().Sign([]byte(`{"iss":"https://op.example","sub":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := jws.Parse([]byte(idToken))
	if err != nil {
		t.Fatal(err)
	}
	if typ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != TypIDToken {
		t.Fatalf("ID token typ %q", typ)
	}
	set, err := jwk.Parse(ring.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify([]byte(idToken), jws.WithKeySet(set, jws.WithRequireKid(true))); err != nil {
		t.Fatalf("a relying party cannot verify the ID token with the JWKS: %v", err)
	}
	if _, _, err := ring.Verify(idToken); err == nil {
		t.Fatal("the ring verified an ID token as an access token")
	}
	if payload, err := ring.VerifyIDToken(idToken); err != nil || !strings.Contains(string(payload), `"sub":"1"`) {
		t.Fatalf("VerifyIDToken: %s, %v", payload, err)
	}
	accessToken, err := ring.Signer().Sign([]byte(`{"iss":"https://op.example","sub":"1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, kid, err := ring.Verify(accessToken); err != nil || kid != access.ID {
		t.Fatalf("access token: kid %s, %v", kid, err)
	}
	if _, err := ring.VerifyIDToken(accessToken); err == nil {
		t.Fatal("an access token passed for an ID token")
	}
	// A store without an ID-token key still serves access tokens.
	bare := &Ring{}
	if err := bare.Load([]*store.SigningKey{access}, time.Hour, now); err != nil || bare.IDTokenSigner() != nil {
		t.Fatalf("without an ID-token key: %v, signer %v", err, bare.IDTokenSigner())
	}
}
