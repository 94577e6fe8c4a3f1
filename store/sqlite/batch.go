package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Group commit for CreateAccessToken, the write every token request makes.
//
// A commit costs far more than the inserts in it: each page a transaction changes is
// appended to the WAL (two write calls per page), and every auto-checkpoint copies pages
// back and syncs the file. Committing each token alone, measured on two cores, capped
// issuance near 2,000 tokens a second. So concurrent CreateAccessToken calls hand their
// tokens to one goroutine, which writes all that are waiting in one transaction: the
// per-commit work (locking, the WAL header, the checkpoint check) is paid once per
// batch, and so are the pages every token of the batch changes (the tables' last pages,
// where new rows go, and the newest expires_at leaves). A lone caller is not delayed:
// the batcher takes whatever is queued when it is free, never waiting for more.
//
// Each token pair is written under its own SAVEPOINT, so a pair that fails (a duplicate
// id, a deleted client) is rolled back alone and its caller gets the error, while the
// rest of the batch commits. A caller gets its answer only after the commit, so success
// always means stored.

// maxBatch bounds the tokens in one transaction, and so the latency a batch adds.
const maxBatch = 64

// errClosed is returned by calls made after Close.
var errClosed = errors.New("store is closed")

// issueRequest is one CreateAccessToken call waiting for the batcher.
type issueRequest struct {
	ctx     context.Context
	at      *store.AccessToken
	refresh *store.RefreshToken
	done    chan error // buffered, so the batcher never waits for its caller
}

func (s *Store) startBatcher() {
	s.issue = make(chan *issueRequest, maxBatch)
	s.quit = make(chan struct{})
	s.batcherDone = make(chan struct{})
	go s.runBatcher()
}

// stopBatcher stops the batcher after the batch it is writing, if any.
func (s *Store) stopBatcher() {
	if s.quit == nil {
		return
	}
	close(s.quit)
	<-s.batcherDone
}

func (s *Store) runBatcher() {
	defer close(s.batcherDone)
	batch := make([]*issueRequest, 0, maxBatch)
	for {
		select {
		case r := <-s.issue:
			batch = append(batch[:0], r)
		case <-s.quit:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-s.issue:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.writeBatch(batch)
		clear(batch) // drop references to the records
	}
}

// issueBatched queues a token pair for the batcher and waits for its result.
func (s *Store) issueBatched(ctx context.Context, at *store.AccessToken, refresh *store.RefreshToken) error {
	r := &issueRequest{ctx: ctx, at: at, refresh: refresh, done: make(chan error, 1)}
	select {
	case s.issue <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.batcherDone:
		return errClosed
	}
	// Once queued, wait for the verdict even if ctx ends: the batcher skips requests
	// whose context has ended before it writes them, and one it has written may be
	// committed, which the caller must not mistake for a failure.
	select {
	case err := <-r.done:
		return err
	case <-s.batcherDone:
		select {
		case err := <-r.done:
			return err
		default:
			return errClosed
		}
	}
}

// writeBatch writes the queued token pairs in one transaction and answers each caller.
func (s *Store) writeBatch(batch []*issueRequest) {
	errs := make([]error, len(batch))
	err := s.writeBatchTx(batch, errs)
	for i, r := range batch {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		r.done <- errs[i]
	}
}

// writeBatchTx fills errs with each pair's own failure, and returns an error that fails
// the whole batch (nothing was stored).
func (s *Store) writeBatchTx(batch []*issueRequest, errs []error) error {
	// The requests' contexts must not cancel a transaction shared with other requests.
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	insAccess, insRefresh := tx.StmtContext(ctx, s.insertAccess), tx.StmtContext(ctx, s.insertRefresh)
	sp, rb, rel := tx.StmtContext(ctx, s.savepoint), tx.StmtContext(ctx, s.rollbackTo), tx.StmtContext(ctx, s.release)
	fail := func(err error) error {
		_ = tx.Rollback()
		return err
	}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := sp.ExecContext(ctx); err != nil {
			return fail(fmt.Errorf("savepoint: %w", err))
		}
		_, err := insAccess.ExecContext(ctx, accessArgs(r.at)...)
		if err == nil && r.refresh != nil {
			_, err = insRefresh.ExecContext(ctx, refreshArgs(r.refresh)...)
		}
		if err != nil {
			errs[i] = err
			if _, err := rb.ExecContext(ctx); err != nil {
				return fail(fmt.Errorf("roll back to savepoint: %w", err))
			}
		}
		if _, err := rel.ExecContext(ctx); err != nil {
			return fail(fmt.Errorf("release savepoint: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// prepareBatchStatements prepares, on the writer connection, what writeBatch runs.
func (s *Store) prepareBatchStatements(ctx context.Context) error {
	var err error
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.insertAccess, insertAccessSQL},
		{&s.insertRefresh, insertRefreshSQL},
		{&s.savepoint, `SAVEPOINT issue`},
		{&s.rollbackTo, `ROLLBACK TO issue`},
		{&s.release, `RELEASE issue`},
	} {
		if *p.dst, err = s.w.PrepareContext(ctx, p.sql); err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
	}
	return nil
}
