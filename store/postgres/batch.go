package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/groupcommit"
)

// Group commit for CreateAccessToken, the write every token request makes.
//
// Each INSERT committed alone costs PostgreSQL a WAL flush (fdatasync) and a round trip,
// and a pool connection for that long: measured on two cores, issuance stopped near
// 2,300 tokens a second, the server mostly waiting on commits. So concurrent
// CreateAccessToken calls hand their tokens to a few writer goroutines (store/groupcommit); a writer takes
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

// tokenPair is what one CreateAccessToken call writes.
type tokenPair struct {
	at      *store.AccessToken
	refresh *store.RefreshToken
}

func (s *Store) startBatcher() {
	s.issuer = groupcommit.Start(batchWriters, maxBatch, s.writeBatch)
	s.assertions = groupcommit.Start(batchWriters, maxBatch, s.writeAssertions)
}

// stopBatcher stops the writers after the batches they are writing, if any. Safe to
// call more than once (Close may be).
func (s *Store) stopBatcher() {
	if s.issuer != nil {
		s.issuer.Stop()
	}
	if s.assertions != nil {
		s.assertions.Stop()
	}
}

// issueBatched queues a token pair for a writer and waits for its result.
func (s *Store) issueBatched(ctx context.Context, at *store.AccessToken, refresh *store.RefreshToken) error {
	return s.issuer.Submit(ctx, tokenPair{at, refresh})
}

// writeBatch writes the queued token pairs in one transaction and answers each caller;
// if the transaction fails, it writes them one by one.
func (s *Store) writeBatch(batch []*groupcommit.Request[tokenPair]) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.Ctx.Err(); err != nil {
			r.Answer(err)
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
		r.Answer(s.insertPair(r.Ctx, r.Item))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if s.insertBatch(ctx, live) == nil {
		for _, r := range live {
			r.Answer(nil)
		}
		return
	}
	// Nothing of the batch was stored: find out which pair is refused, and why.
	for _, r := range live {
		if err := r.Ctx.Err(); err != nil {
			r.Answer(err)
			continue
		}
		r.Answer(s.insertPair(r.Ctx, r.Item))
	}
}

// insertBatch sends the pairs' INSERTs in one batch: PostgreSQL runs them in one
// implicit transaction, committed at the batch's end, so either all are stored or none.
func (s *Store) insertBatch(ctx context.Context, live []*groupcommit.Request[tokenPair]) error {
	var b pgx.Batch
	for _, r := range live {
		if r.Item.refresh == nil {
			b.Queue(insertAccessSQL, accessArgs(r.Item.at)...)
		} else {
			b.Queue(insertPairSQL, append(accessArgs(r.Item.at), refreshArgs(r.Item.refresh)...)...)
		}
	}
	return s.pool.SendBatch(ctx, &b).Close()
}

// insertPair writes one token pair in one statement.
func (s *Store) insertPair(ctx context.Context, p tokenPair) error {
	var err error
	if p.refresh == nil {
		_, err = s.pool.Exec(ctx, insertAccessSQL, accessArgs(p.at)...)
	} else {
		_, err = s.pool.Exec(ctx, insertPairSQL, append(accessArgs(p.at), refreshArgs(p.refresh)...)...)
	}
	return err
}
