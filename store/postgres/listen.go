package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
)

// revocationListener follows the schema's revocation channel on a dedicated connection
// (LISTEN needs one session for as long as it listens, which a pool cannot promise) and
// wakes the waiters of RevocationSignal on every notification: a revocation committed on
// any node sharing the database wakes the feed's long polls on every node.
//
// It starts with the first RevocationSignal call, so commands that never follow the feed
// (the CLI) open no extra connection, and stops on Close.
type revocationListener struct {
	once   sync.Once
	signal store.Signal
	cancel context.CancelFunc
	done   chan struct{}
}

// Reconnection backoff of the listener.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
)

// RevocationSignal returns a channel closed when a revocation may have been recorded by
// any process sharing the database (see store.RevocationStore).
func (s *Store) RevocationSignal() <-chan struct{} {
	s.listener.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.listener.cancel, s.listener.done = cancel, make(chan struct{})
		go s.listen(ctx)
	})
	return s.listener.signal.Wait()
}

// RevocationRecheck is ten seconds: every node's revocations reach the listener, which
// also wakes every waiter after it reconnects, so the re-read is only a fallback for a
// listener connection that died without noticing.
func (s *Store) RevocationRecheck() time.Duration { return 10 * time.Second }

// listen keeps a LISTEN connection up until ctx ends, reconnecting with backoff. After
// each (re)connection it wakes every waiter, since notifications sent while it was not
// listening are lost: the waiters re-read the log and miss nothing.
func (s *Store) listen(ctx context.Context) {
	defer close(s.listener.done)
	backoff := listenMinBackoff
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, s.connConfig.Copy())
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
				conn.Close(context.Background())
			}
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, listenMaxBackoff)
			continue
		}
		backoff = listenMinBackoff
		s.listener.signal.Notify()
		for {
			if _, err := conn.WaitForNotification(ctx); err != nil {
				break
			}
			s.listener.signal.Notify()
		}
		conn.Close(context.Background())
	}
}

// stopListener stops the listener if it was started.
func (s *Store) stopListener() {
	if s.listener.cancel != nil {
		s.listener.cancel()
		<-s.listener.done
	}
}
