package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/groupcommit"
)

// Group commit for CreateAccessToken, the write every token request makes.
//
// (The queue is store/groupcommit.) A commit costs far more than the inserts in it: each page a transaction changes is
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

// tokenPair is what one CreateAccessToken call writes.
type tokenPair struct {
	at      *store.AccessToken
	refresh *store.RefreshToken
}

// startBatcher starts the one writer: SQLite has one writer connection.
func (s *Store) startBatcher() {
	s.issuer = groupcommit.Start(1, maxBatch, s.writeBatch)
	s.assertions = groupcommit.Start(1, maxBatch, s.writeAssertions)
}

// stopBatcher stops the writer after the batch it is writing, if any.
func (s *Store) stopBatcher() {
	if s.issuer != nil {
		s.issuer.Stop()
	}
	if s.assertions != nil {
		s.assertions.Stop()
	}
}

// issueBatched queues a token pair for the writer and waits for its result.
func (s *Store) issueBatched(ctx context.Context, at *store.AccessToken, refresh *store.RefreshToken) error {
	return s.issuer.Submit(ctx, tokenPair{at, refresh})
}

// writeBatch writes the queued token pairs in one transaction and answers each caller.
func (s *Store) writeBatch(batch []*groupcommit.Request[tokenPair]) {
	errs := make([]error, len(batch))
	err := s.writeBatchTx(batch, errs)
	for i, r := range batch {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		r.Answer(errs[i])
	}
}

// writeBatchTx fills errs with each pair's own failure, and returns an error that fails
// the whole batch (nothing was stored).
func (s *Store) writeBatchTx(batch []*groupcommit.Request[tokenPair], errs []error) error {
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
		if err := r.Ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := sp.ExecContext(ctx); err != nil {
			return fail(fmt.Errorf("savepoint: %w", err))
		}
		_, err := insAccess.ExecContext(ctx, accessArgs(r.Item.at)...)
		if err == nil && r.Item.refresh != nil {
			_, err = insRefresh.ExecContext(ctx, refreshArgs(r.Item.refresh)...)
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
