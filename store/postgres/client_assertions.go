package postgres

import (
	"context"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// UseClientAssertion records an accepted assertion id in one statement: the insert, or
// the replacement of an expired record for the same pair, happens only if no live record
// holds it. ON CONFLICT takes the row lock, so of two concurrent calls one inserts and
// the other, seeing the live row, changes nothing: a replay.
func (s *Store) UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) error {
	var n int64
	err := retry(ctx, func() error {
		tag, err := s.pool.Exec(ctx, `INSERT INTO client_assertion_jtis (client_id, jti, expires_at)
			VALUES ($1, $2, $3)
			ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
			WHERE client_assertion_jtis.expires_at <= $4`,
			clientID, jti, expiresAt, now)
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
