package keyseal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/keyseal"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

func newKEK(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, keyseal.KeySize)
	rand.Read(k)
	return k
}

func sealer(t *testing.T, current []byte, previous ...[]byte) *keyseal.Sealer {
	t.Helper()
	s, err := keyseal.New(current, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseKey(t *testing.T) {
	raw := newKEK(t)
	b64 := base64.StdEncoding.EncodeToString(raw)
	for _, v := range []string{b64, "base64:" + b64, " " + b64 + "\n"} {
		if got, err := keyseal.ParseKey(v); err != nil || !bytes.Equal(got, raw) {
			t.Errorf("ParseKey(%q) = %x, %v", v, got, err)
		}
	}
	short := base64.StdEncoding.EncodeToString(raw[:16])
	for v, want := range map[string]string{
		"":       "empty",
		"s3cr!t": "not base64",
		short:    "decodes to 16 bytes, want 32",
	} {
		_, err := keyseal.ParseKey(v)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKey(%q): %v, want %q", v, err, want)
		}
		if err != nil && v != "" && strings.Contains(err.Error(), v) {
			t.Errorf("the refusal shows the value: %v", err)
		}
	}
}

// A sealed key opens with its key encryption key only, only on its own record, and not
// once altered; the sealed form shows nothing of the PEM.
func TestSealOpen(t *testing.T) {
	rec, err := keys.Generate(keys.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kek := newKEK(t)
	s := sealer(t, kek)
	sealed := s.Seal(rec)
	if !keyseal.IsSealed(sealed.PrivatePEM) || bytes.Contains(sealed.PrivatePEM, []byte("PRIVATE KEY")) || sealed.ID != rec.ID {
		t.Fatalf("sealed form %q", sealed.PrivatePEM)
	}
	if bytes.Equal(s.Seal(rec).PrivatePEM, sealed.PrivatePEM) {
		t.Error("two seals of one key are equal: the nonce is not fresh")
	}
	opened, reseal, err := s.Open(sealed)
	if err != nil || reseal || !bytes.Equal(opened.PrivatePEM, rec.PrivatePEM) {
		t.Fatalf("Open: %v reseal=%v", err, reseal)
	}
	// In the clear: returned as it is, to be sealed.
	if got, reseal, err := s.Open(rec); err != nil || !reseal || got != rec {
		t.Fatalf("Open of a clear key: %v reseal=%v", err, reseal)
	}
	// Without a Sealer, a clear key is fine and a sealed one refused.
	var none *keyseal.Sealer
	if got, reseal, err := none.Open(rec); err != nil || reseal || got != rec {
		t.Fatalf("nil Sealer, clear key: %v %v", err, reseal)
	}
	if _, _, err := none.Open(sealed); !errors.Is(err, keyseal.ErrNoKey) {
		t.Fatalf("nil Sealer, sealed key: %v", err)
	}
	if _, _, err := sealer(t, newKEK(t)).Open(sealed); !errors.Is(err, keyseal.ErrWrongKey) {
		t.Fatalf("another key: %v", err)
	}
	moved := *sealed
	moved.ID = "another-kid"
	if _, _, err := s.Open(&moved); err == nil {
		t.Fatal("a sealed key copied onto another record opened")
	}
	realg := *sealed
	realg.Alg = keys.RS256
	if _, _, err := s.Open(&realg); err == nil {
		t.Fatal("a sealed key with another alg opened")
	}
	for i := len("sealed:v1:"); i < len(sealed.PrivatePEM); i += 7 {
		bad := *sealed
		bad.PrivatePEM = bytes.Clone(sealed.PrivatePEM)
		bad.PrivatePEM[i] ^= 0x01
		if got, _, err := s.Open(&bad); err == nil && !bytes.Equal(got.PrivatePEM, rec.PrivatePEM) {
			t.Fatalf("byte %d altered: opened to something else", i)
		} else if err == nil {
			// Flipping a base64 character's low bit can give the same bits (padding bits):
			// only acceptable when the result is the very same key.
			continue
		}
	}
	// During a rotation, the previous key opens and asks for a reseal.
	next := sealer(t, newKEK(t), kek)
	if got, reseal, err := next.Open(sealed); err != nil || !reseal || !bytes.Equal(got.PrivatePEM, rec.PrivatePEM) {
		t.Fatalf("previous key: %v reseal=%v", err, reseal)
	}
}

// rawPEMs reads private_pem as stored, past the wrapper.
func rawPEMs(t *testing.T, path string) [][]byte {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT private_pem FROM signing_keys ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// The life of a store's keys as an operator lives it: keys made in the clear, then
// key_encryption_key set (sealed at the next start, same kid), a start with a wrong key
// or none refused naming the key, a rotation of the encryption key (old and new
// configured, resealed), then the new one alone.
func TestStoreSealsMigratesAndRotates(t *testing.T) {
	ctx := context.Background()
	path := testdb.SQLitePath(t)
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := func(s *keyseal.Sealer) (*keys.Ring, error) {
		ring := &keys.Ring{}
		return ring, keys.Bootstrap(ctx, keyseal.Store(st, s), ring, keys.ES256, time.Hour)
	}
	clear, err := start(nil)
	if err != nil {
		t.Fatal(err)
	}
	kid := clear.Signer().KeyID()
	// Two keys: the access-token key and the ID-token key.
	if pems := rawPEMs(t, path); len(pems) != 2 || keyseal.IsSealed(pems[0]) || keyseal.IsSealed(pems[1]) {
		t.Fatalf("without a key encryption key the keys are stored in the clear: %d keys", len(pems))
	}

	old := newKEK(t)
	ring, err := start(sealer(t, old))
	if err != nil || ring.Signer().KeyID() != kid {
		t.Fatalf("first start with a key encryption key: %v", err)
	}
	sealedOld := rawPEMs(t, path)
	if len(sealedOld) != 2 {
		t.Fatalf("%d keys after sealing, want 2", len(sealedOld))
	}
	for _, p := range sealedOld {
		if !keyseal.IsSealed(p) || bytes.Contains(p, []byte("PRIVATE")) {
			t.Fatalf("a clear key was not sealed")
		}
	}
	// A rotation of the signing key is sealed too.
	if _, err := keys.Rotate(ctx, keyseal.Store(st, sealer(t, old)), keys.ES256, store.KeyPurposeAccess); err != nil {
		t.Fatal(err)
	}
	for _, p := range rawPEMs(t, path) {
		if !keyseal.IsSealed(p) {
			t.Fatalf("a rotated key is stored in the clear")
		}
	}

	for name, s := range map[string]*keyseal.Sealer{"no key": nil, "a wrong key": sealer(t, newKEK(t))} {
		_, err := start(s)
		if err == nil || !strings.Contains(err.Error(), "signing key ") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("start with %s: %v", name, err)
		}
		t.Logf("start with %s: %v", name, err)
	}

	next := newKEK(t)
	if _, err := start(sealer(t, next, old)); err != nil {
		t.Fatalf("rotation start (new and old keys): %v", err)
	}
	for _, p := range rawPEMs(t, path) {
		if !strings.HasPrefix(string(p), "sealed:v1:"+sealer(t, next).ID()+":") {
			t.Fatalf("not resealed with the new key: %.40q", p)
		}
	}
	ring, err = start(sealer(t, next))
	if err != nil {
		t.Fatalf("the new key alone after the rotation: %v", err)
	}
	if _, err := start(sealer(t, old)); !errors.Is(err, keyseal.ErrWrongKey) {
		t.Fatalf("the retired key after the rotation: %v", err)
	}
	// The keys still sign and verify as before.
	tok, err := ring.Signer().Sign([]byte(`{"sub":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ring.Verify(tok); err != nil {
		t.Fatal(err)
	}

	// Replacing and importing through the wrapper seal as well.
	rec, _ := keys.Generate(keys.RS256, time.Now())
	if err := keyseal.Store(st, sealer(t, next)).ReplaceSigningKeys(ctx, rec); err != nil {
		t.Fatal(err)
	}
	imported, _ := keys.Generate(keys.EdDSA, time.Now())
	if _, err := keyseal.Store(st, sealer(t, next)).ImportPassport(ctx, &store.PassportImport{SigningKey: imported}); err != nil {
		t.Fatal(err)
	}
	for _, p := range rawPEMs(t, path) {
		if !keyseal.IsSealed(p) {
			t.Fatalf("a replaced or imported key is stored in the clear")
		}
	}
	if bytes.Contains(imported.PrivatePEM, []byte("sealed")) {
		t.Fatal("sealing changed the caller's record")
	}
}
