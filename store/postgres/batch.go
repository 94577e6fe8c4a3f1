package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Group commit for CreateAccessToken, the write every token request makes.
//
// Each INSERT committed alone costs PostgreSQL a WAL flush (fdatasync) and a round trip,
// and a pool connection for that long: measured on two cores, issuance stopped near
// 2,300 tokens a second, the server mostly waiting on commits. So concurrent
// CreateAccessToken calls hand their tokens to a few writer goroutines; a writer takes
// every request waiting (up to maxBatch) and sends their INSERTs as one pgx.Batch: one
// round trip, one implicit transaction, one commit for all of them. A lone caller is not
// delayed: an idle writer takes its request at once, never waiting for more.
//
// A batch commits as a whole or not at all. When it fails (a duplicate id, a client
// that does not exist, a lost connection), nothing of it was stored, and the writer
// writes its token pairs again one by one, each in its own statement, so every caller
// gets its own pair's true result: one bad row fails only its own caller. A caller gets
// its answer only after the commit, so success always means stored.

// maxBatch bounds the token pairs of one transaction, and so the latency a batch adds.
const maxBatch = 64

// batchWriters is how many batches may be in flight at once. One is best measured
// (BenchmarkCreateAccessToken, pg-µs/token, 2 cores): while it waits for its commit the
// next batch gathers, and bigger batches cost PostgreSQL less per token (about 100 µs of
// CPU per token with one writer, 120-170 with two, 270-310 committing each alone). A
// multi-row INSERT per table instead of one INSERT per pair measured the same, so the
// simpler form stays.
const batchWriters = 1

// batchTimeout bounds one batch's round trip: the requests' contexts cannot cancel a
// statement shared with other requests, so a hung connection is given up on after this.
const batchTimeout = 30 * time.Second

// errClosed is returned by calls made after Close.
var errClosed = errors.New("store is closed")

// issueRequest is one CreateAccessToken call waiting for a writer.
type issueRequest struct {
	ctx     context.Context
	at      *store.AccessToken
	refresh *store.RefreshToken
	done    chan error // buffered, so a writer never waits for its caller
}

// issueBatcher holds the writers' queue.
type issueBatcher struct {
	queue    chan *issueRequest
	quit     chan struct{}
	done     chan struct{} // closed when every writer has stopped
	stopOnce sync.Once
}

func (s *Store) startBatcher() {
	b := &s.batcher
	b.queue = make(chan *issueRequest, maxBatch)
	b.quit = make(chan struct{})
	b.done = make(chan struct{})
	stopped := make(chan struct{}, batchWriters)
	for range batchWriters {
		go func() {
			defer func() { stopped <- struct{}{} }()
			s.runWriter()
		}()
	}
	go func() {
		for range batchWriters {
			<-stopped
		}
		close(b.done)
	}()
}

// stopBatcher stops the writers after the batches they are writing, if any. Safe to
// call more than once (Close may be).
func (s *Store) stopBatcher() {
	if s.batcher.quit == nil {
		return
	}
	s.batcher.stopOnce.Do(func() { close(s.batcher.quit) })
	<-s.batcher.done
}

func (s *Store) runWriter() {
	b := &s.batcher
	batch := make([]*issueRequest, 0, maxBatch)
	for {
		select {
		case r := <-b.queue:
			batch = append(batch[:0], r)
		case <-b.quit:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-b.queue:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.writeBatch(batch)
		clear(batch) // drop references to the records
	}
}

// issueBatched queues a token pair for a writer and waits for its result.
func (s *Store) issueBatched(ctx context.Context, at *store.AccessToken, refresh *store.RefreshToken) error {
	r := &issueRequest{ctx: ctx, at: at, refresh: refresh, done: make(chan error, 1)}
	b := &s.batcher
	select {
	case b.queue <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.done:
		return errClosed
	}
	// Once queued, wait for the verdict even if ctx ends: a writer skips requests whose
	// context has ended before it sends them, and one it has sent may be committed,
	// which the caller must not mistake for a failure.
	select {
	case err := <-r.done:
		return err
	case <-b.done:
		select {
		case err := <-r.done:
			return err
		default:
			return errClosed
		}
	}
}

// writeBatch writes the queued token pairs in one transaction and answers each caller;
// if the transaction fails, it writes them one by one.
func (s *Store) writeBatch(batch []*issueRequest) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		// Alone: its own statement, cancelled by its own context, as without batching.
		r := live[0]
		r.done <- s.insertPair(r.ctx, r.at, r.refresh)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if s.insertBatch(ctx, live) == nil {
		for _, r := range live {
			r.done <- nil
		}
		return
	}
	// Nothing of the batch was stored: find out which pair is refused, and why.
	for _, r := range live {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		r.done <- s.insertPair(r.ctx, r.at, r.refresh)
	}
}

// insertBatch sends the pairs' INSERTs in one batch: PostgreSQL runs them in one
// implicit transaction, committed at the batch's end, so either all are stored or none.
func (s *Store) insertBatch(ctx context.Context, live []*issueRequest) error {
	var b pgx.Batch
	for _, r := range live {
		if r.refresh == nil {
			b.Queue(insertAccessSQL, accessArgs(r.at)...)
		} else {
			b.Queue(insertPairSQL, append(accessArgs(r.at), refreshArgs(r.refresh)...)...)
		}
	}
	return s.pool.SendBatch(ctx, &b).Close()
}

// insertPair writes one token pair in one statement.
func (s *Store) insertPair(ctx context.Context, at *store.AccessToken, refresh *store.RefreshToken) error {
	var err error
	if refresh == nil {
		_, err = s.pool.Exec(ctx, insertAccessSQL, accessArgs(at)...)
	} else {
		_, err = s.pool.Exec(ctx, insertPairSQL, append(accessArgs(at), refreshArgs(refresh)...)...)
	}
	return err
}
