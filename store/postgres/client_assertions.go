package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/groupcommit"
)

// useAssertionSQL records an accepted assertion id in one statement: the insert, or the
// replacement of an expired record for the same pair, happens only if no live record
// holds it. ON CONFLICT takes the row lock, so of two concurrent calls one inserts and
// the other, seeing the live row, changes nothing: a replay.
const useAssertionSQL = `INSERT INTO client_assertion_jtis (client_id, jti, expires_at)
	VALUES ($1, $2, $3)
	ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
	WHERE client_assertion_jtis.expires_at <= $4`

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

// useAssertion writes one record in its own statement.
func (s *Store) useAssertion(ctx context.Context, u assertionUse) error {
	var n int64
	err := retry(ctx, func() error {
		tag, err := s.pool.Exec(ctx, useAssertionSQL, u.clientID, u.jti, u.expiresAt, u.now)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return wrapErr("use client assertion", err)
	}
	if n == 0 {
		return store.ErrAlreadyUsed
	}
	return nil
}

// writeAssertions records a batch in one pgx.Batch, one implicit transaction: each
// statement's row count is its caller's verdict (a pair twice in one batch: the second
// sees the first's row and changes nothing). The batch is sorted by key, so two nodes'
// batches lock rows in the same order. If the batch fails (a deleted client, a deadlock
// with another node), nothing of it was stored, and each is written alone.
func (s *Store) writeAssertions(batch []*groupcommit.Request[assertionUse]) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.Ctx.Err(); err != nil {
			r.Answer(err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 1 {
		live[0].Answer(s.useAssertion(live[0].Ctx, live[0].Item))
		return
	}
	slices.SortFunc(live, func(a, b *groupcommit.Request[assertionUse]) int {
		return cmp.Or(cmp.Compare(a.Item.clientID, b.Item.clientID), cmp.Compare(a.Item.jti, b.Item.jti))
	})
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	var b pgx.Batch
	for _, r := range live {
		u := r.Item
		b.Queue(useAssertionSQL, u.clientID, u.jti, u.expiresAt, u.now)
	}
	res := s.pool.SendBatch(ctx, &b)
	verdicts := make([]error, len(live))
	var failed error
	for i := range live {
		tag, err := res.Exec()
		switch {
		case err != nil:
			failed = err
		case tag.RowsAffected() == 0:
			verdicts[i] = store.ErrAlreadyUsed
		}
	}
	if err := res.Close(); err != nil || failed != nil {
		for _, r := range live {
			if err := r.Ctx.Err(); err != nil {
				r.Answer(err)
				continue
			}
			r.Answer(s.useAssertion(r.Ctx, r.Item))
		}
		return
	}
	for i, r := range live {
		r.Answer(verdicts[i])
	}
}
