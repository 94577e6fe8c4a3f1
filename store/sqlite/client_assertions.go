package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/groupcommit"
)

// useAssertionSQL records an accepted assertion id in one statement: the insert, or the
// replacement of an expired record for the same pair, happens only if no live record
// holds it, and SQLite's single writer makes that atomic. No change means a replay.
const useAssertionSQL = `INSERT INTO client_assertion_jtis (client_id, jti, expires_at)
	VALUES (?, ?, ?)
	ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
	WHERE client_assertion_jtis.expires_at <= ?`

// assertionUse is what one UseClientAssertion call records.
type assertionUse struct {
	clientID, jti  string
	expiresAt, now time.Time
}

// UseClientAssertion records an accepted assertion id (useAssertionSQL). Every DPoP token
// request and private_key_jwt authentication makes this write besides its token's, so
// concurrent calls share a commit as CreateAccessToken's do (batch.go): committed alone,
// it halved DPoP issuance (BenchmarkTokenDPoP).
func (s *Store) UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) error {
	return s.assertions.Submit(ctx, assertionUse{clientID, jti, expiresAt, now})
}

// writeAssertions records a batch in one transaction on the writer connection. Each
// statement's row count is its caller's verdict (a pair twice in one batch: the second
// sees the first's row and changes nothing); a statement that fails (a deleted client)
// is undone alone by SQLite and fails only its caller. If the transaction cannot begin
// or commit, nothing was stored and every caller gets that error.
func (s *Store) writeAssertions(batch []*groupcommit.Request[assertionUse]) {
	verdicts := make([]error, len(batch))
	err := s.writeAssertionsTx(batch, verdicts)
	for i, r := range batch {
		if err != nil {
			verdicts[i] = err
		}
		r.Answer(verdicts[i])
	}
}

func (s *Store) writeAssertionsTx(batch []*groupcommit.Request[assertionUse], verdicts []error) error {
	// The requests' contexts must not cancel a transaction shared with other requests.
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr("use client assertion", fmt.Errorf("begin transaction: %w", err))
	}
	for i, r := range batch {
		if err := r.Ctx.Err(); err != nil {
			verdicts[i] = err
			continue
		}
		u := r.Item
		res, err := tx.ExecContext(ctx, useAssertionSQL, u.clientID, u.jti, fmtTime(u.expiresAt), fmtTime(u.now))
		if err == nil {
			var n int64
			if n, err = rowsAffected(res); err == nil && n == 0 {
				err = store.ErrAlreadyUsed
			}
		}
		if err != nil && err != store.ErrAlreadyUsed {
			err = wrapErr("use client assertion", err)
		}
		verdicts[i] = err
	}
	if err := tx.Commit(); err != nil {
		return wrapErr("use client assertion", fmt.Errorf("commit: %w", err))
	}
	return nil
}
