package sqlite

import (
	"context"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// UseClientAssertion records an accepted assertion id in one statement: the insert, or
// the replacement of an expired record for the same pair, happens only if no live record
// holds it, and SQLite's single writer makes that atomic. No change means a replay.
func (s *Store) UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO client_assertion_jtis (client_id, jti, expires_at)
		VALUES (?, ?, ?)
		ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at
		WHERE client_assertion_jtis.expires_at <= ?`,
		clientID, jti, fmtTime(expiresAt), fmtTime(now))
	if err != nil {
		return wrapErr("use client assertion", err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return wrapErr("use client assertion", err)
	}
	if n == 0 {
		return store.ErrAlreadyUsed
	}
	return nil
}
