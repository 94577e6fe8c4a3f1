package keys

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// memKeys is a KeyStore whose key list a test replaces, and whose reads can fail.
type memKeys struct {
	store.KeyStore // unused methods panic
	mu             sync.Mutex
	list           []*store.SigningKey
	fail           error
}

func (m *memKeys) ListSigningKeys(context.Context) ([]*store.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.list, m.fail
}

func (m *memKeys) set(list []*store.SigningKey, fail error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list, m.fail = list, fail
}

// A ring following the store picks up a rotation within an interval, keeps its keys when
// a reload fails (and says so), and stops when its context ends.
func TestFollowPicksUpRotationsAndKeepsKeysOnFailure(t *testing.T) {
	first, _ := Generate(ES256, time.Now())
	ks := &memKeys{list: []*store.SigningKey{first}}
	ring := &Ring{}
	if err := Reload(context.Background(), ks, ring, time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var failures atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		Follow(ctx, ks, ring, time.Hour, 5*time.Millisecond, func(error) { failures.Add(1) })
	}()

	ks.set(nil, errors.New("database down"))
	waitFor(t, func() bool { return failures.Load() > 0 })
	if ring.Signer().KeyID() != first.ID {
		t.Fatal("a failed reload changed the signing key")
	}

	second, _ := Generate(ES256, time.Now())
	retired := time.Now()
	old := *first
	old.RetiredAt = &retired
	ks.set([]*store.SigningKey{second, &old}, nil)
	waitFor(t, func() bool { return ring.Signer().KeyID() == second.ID })
	if kids := ring.PublishedKeyIDs(); len(kids) != 2 {
		t.Fatalf("published %v, want the new and the retired key", kids)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not return when its context ended")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
