package dpop

import (
	"strings"
	"testing"
	"time"
)

func TestNonces(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	n, err := NewNonces(key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	same, _ := NewNonces(key, time.Minute)
	other, _ := NewNonces([]byte(strings.Repeat("o", 32)), time.Minute)
	nonce := n.Issue(t0)
	if !n.Valid(nonce, t0) || !n.Valid(nonce, t0.Add(time.Minute)) {
		t.Fatal("a fresh nonce is refused")
	}
	if !same.Valid(nonce, t0) {
		t.Fatal("a node with the same key refuses the nonce")
	}
	if other.Valid(nonce, t0) {
		t.Fatal("a node with another key accepts the nonce")
	}
	if n.Valid(nonce, t0.Add(time.Minute+time.Second)) {
		t.Fatal("an expired nonce is accepted")
	}
	if n.Valid(n.Issue(t0.Add(2*time.Second)), t0) {
		t.Fatal("a nonce from the future is accepted")
	}
	b := []byte(nonce)
	b[3] ^= 1
	for _, bad := range []string{"", "x", string(b), nonce + "A", strings.Repeat("A", len(nonce))} {
		if n.Valid(bad, t0) {
			t.Fatalf("nonce %q accepted", bad)
		}
	}
	if _, err := NewNonces([]byte("short"), 0); err == nil {
		t.Fatal("a short key is accepted")
	}
}
