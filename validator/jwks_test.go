package validator

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

func TestKeySourcePinsOneAlgorithmPerKey(t *testing.T) {
	p256 := newES256(t, "p256")
	p384 := newECKey(t, "p384", elliptic.P384(), "ES384")
	p521 := newECKey(t, "p521", elliptic.P521(), "ES512")
	ed := newEdDSA(t, "ed")
	rs := newRS256(t, "rs", 0)
	ps := newRS256(t, "ps", 1)
	ps.alg = "PS256"
	lying := newRS256(t, "rs-hs", 2)
	lying.alg = "HS256" // an RSA key declared HS256 must not become an HMAC secret
	wrongCurve := newECKey(t, "p384-as-es256", elliptic.P384(), "ES256")
	enc := newES256(t, "enc").publicJWK(t, false)
	_ = enc.Set(jwk.KeyUsageKey, "enc")
	oct, _ := jwk.FromRaw([]byte("a shared secret of thirty-two b!"))
	_ = oct.Set(jwk.KeyIDKey, "oct")
	_ = oct.Set(jwk.AlgorithmKey, "HS256")
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallJWK := (&testKey{kid: "rsa1024", alg: "RS256", signer: small}).publicJWK(t, true)

	set := jwksOf(t,
		p256.publicJWK(t, false), p384.publicJWK(t, false), p521.publicJWK(t, false), ed.publicJWK(t, false),
		rs.publicJWK(t, false), ps.publicJWK(t, true), lying.publicJWK(t, true), wrongCurve.publicJWK(t, true),
		enc, oct, smallJWK)
	ks := newSource(t, newJWKSServer(t, set).URL, KeySourceOptions{MinRefetchInterval: -1})

	tests := []struct {
		name, kid, alg string
		err            error
	}{
		{"EC P-256 without alg pins ES256", "p256", "ES256", nil},
		{"EC P-384 without alg pins ES384", "p384", "ES384", nil},
		{"EC P-521 without alg pins ES512", "p521", "ES512", nil},
		{"Ed25519 without alg pins EdDSA", "ed", "EdDSA", nil},
		{"RSA without alg pins RS256", "rs", "RS256", nil},
		{"RSA without alg refuses PS256", "rs", "PS256", ErrAlgorithmMismatch},
		{"RSA with alg PS256 pins PS256", "ps", "PS256", nil},
		{"RSA with alg PS256 refuses RS256", "ps", "RS256", ErrAlgorithmMismatch},
		{"EC P-256 refuses ES384", "p256", "ES384", ErrAlgorithmMismatch},
		{"EC key refuses none", "p256", "none", ErrAlgorithmMismatch},
		{"EC key refuses HS256", "p256", "HS256", ErrAlgorithmMismatch},
		{"RSA key declared HS256 is not loaded", "rs-hs", "HS256", ErrUnknownKey},
		{"P-384 key declared ES256 is not loaded", "p384-as-es256", "ES256", ErrUnknownKey},
		{"encryption key is not loaded", "enc", "ES256", ErrUnknownKey},
		{"symmetric key is not loaded", "oct", "HS256", ErrUnknownKey},
		{"RSA key under 2048 bits is not loaded", "rsa1024", "RS256", ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ks.Lookup(context.Background(), tt.kid, tt.alg)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && (len(k) != 1 || k[0].KeyID() != tt.kid) {
				t.Fatalf("key = %v", k)
			}
		})
	}
	if got := ks.Len(); got != 6 {
		t.Fatalf("Len = %d, want 6 usable keys", got)
	}
}

func TestKeySourceFirstLoadFailureNamesTheLocation(t *testing.T) {
	srv := newJWKSServer(t, nil)
	srv.status.Store(http.StatusNotFound)
	noKeys := newJWKSServer(t, []byte(`{"keys":[]}`))
	notJSON := newJWKSServer(t, []byte(`<html>`))
	missing := filepath.Join(t.TempDir(), "missing.json")
	tests := []struct{ name, location, want string }{
		{"HTTP error status", srv.URL, "HTTP status 404"},
		{"empty key set", noKeys.URL, "no usable signature key"},
		{"not a key set", notJSON.URL, "parsing key set"},
		{"missing file", missing, "no such file"},
		{"unsupported scheme", "ftp://example.com/jwks", "unsupported location"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewKeySource(tt.location, KeySourceOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.location) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s and say %q", err, tt.location, tt.want)
			}
		})
	}
}

func TestKeySourceKeepsTheOldSetWhenARefreshFails(t *testing.T) {
	es := newES256(t, "es")
	srv := newJWKSServer(t, jwksFor(t, es))
	ks := newSource(t, srv.URL, KeySourceOptions{})
	srv.status.Store(http.StatusBadGateway)
	err := ks.Refresh(context.Background())
	var fe *FetchError
	if !errors.As(err, &fe) || fe.Location != srv.URL {
		t.Fatalf("err = %v", err)
	}
	if _, err := ks.Lookup(context.Background(), "es", "ES256"); err != nil {
		t.Fatalf("old key lost: %v", err)
	}
	srv.status.Store(http.StatusOK)
	srv.set([]byte(`{"keys":[]}`))
	if err := ks.Refresh(context.Background()); err == nil {
		t.Fatal("an empty set replaced the keys")
	}
	if _, err := ks.Lookup(context.Background(), "es", "ES256"); err != nil {
		t.Fatalf("old key lost: %v", err)
	}
}

func TestKeySourceRefreshesInTheBackgroundUntilClosed(t *testing.T) {
	a := newES256(t, "a")
	b := newES256(t, "b")
	srv := newJWKSServer(t, jwksFor(t, a))
	ks, err := NewKeySource(srv.URL, KeySourceOptions{RefreshInterval: 10 * time.Millisecond, MinRefetchInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv.set(jwksFor(t, b))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := ks.Lookup(context.Background(), "b", "ES256"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("background refresh never loaded the new key")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := ks.Lookup(context.Background(), "a", "ES256"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("removed key still verifies: %v", err)
	}
	ks.Close()
	ks.Close() // idempotent
	n := srv.requests.Load()
	time.Sleep(50 * time.Millisecond)
	if got := srv.requests.Load(); got != n {
		t.Fatalf("requests continued after Close: %d -> %d", n, got)
	}
}

func TestKeySourceReadsJWKSFilesAndSingleJWKs(t *testing.T) {
	es := newES256(t, "es")
	dir := t.TempDir()
	setFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(setFile, jwksFor(t, es), 0o600); err != nil {
		t.Fatal(err)
	}
	single, _ := json.Marshal(es.publicJWK(t, true))
	oneFile := filepath.Join(dir, "key.json")
	if err := os.WriteFile(oneFile, single, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{setFile, "file://" + setFile, oneFile} {
		ks := newSource(t, loc, KeySourceOptions{})
		if _, err := ks.Lookup(context.Background(), "es", "ES256"); err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
	}
}

func TestKeySourceLookupHonoursTheCallersContext(t *testing.T) {
	es := newES256(t, "es")
	srv := newJWKSServer(t, jwksFor(t, es))
	ks := newSource(t, srv.URL, KeySourceOptions{})
	srv.delay = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := ks.Lookup(ctx, "unknown", "ES256"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}
