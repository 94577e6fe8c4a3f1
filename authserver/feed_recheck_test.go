package authserver_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// readCountingStore is a real store that counts the feed's reads of the log.
type readCountingStore struct {
	store.Store
	reads atomic.Int32
}

func (c *readCountingStore) RevocationsAfter(ctx context.Context, after int64, limit int) ([]store.Revocation, int64, error) {
	c.reads.Add(1)
	return c.Store.RevocationsAfter(ctx, after, limit)
}

// A long poll with nothing to report re-reads the log every second on SQLite (other
// processes on the file do not wake it), but on Postgres, where LISTEN/NOTIFY wakes it
// for every node's revocation, it does not poll the database every second.
func TestRevocationFeedLongPollRereadsTheLogOnlyAsTheStoreNeeds(t *testing.T) {
	var counting *readCountingStore
	wrap := func(c *authserver.Config) {
		counting = &readCountingStore{Store: c.Store}
		c.Store = counting
	}
	eachStoreWith(t, wrap, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		cursor := f.feed("", auth).Cursor
		// Start the store's listener (Postgres) and let it connect, so its first
		// wake-up does not count.
		f.feed("?after="+cursor, auth)
		time.Sleep(300 * time.Millisecond)
		counting.reads.Store(0)
		if fd := f.feed("?after="+cursor+"&wait=4", auth); fd.Status != 200 || len(fd.Revocations) != 0 {
			t.Fatalf("long poll: %+v", fd)
		}
		reads := counting.reads.Load()
		sqlite := strings.HasSuffix(t.Name(), "/sqlite")
		switch {
		case sqlite && reads < 4:
			t.Errorf("SQLite: %d reads of the log during a 4 s long poll, want one a second", reads)
		case !sqlite && reads > 3:
			t.Errorf("Postgres: %d reads of the log during a 4 s long poll, want the first and the last only", reads)
		}
	})
}
