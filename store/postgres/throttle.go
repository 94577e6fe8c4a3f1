package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// RecordLoginFailure counts one failure for key in one UPSERT, starting a new window when
// the previous one has ended. Concurrent UPSERTs of one key queue on the row lock, and
// each re-reads the updated row, so no count is lost.
func (s *Store) RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	var n int
	var until time.Time
	err := retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `
			INSERT INTO login_failures AS f (key, failures, expires_at) VALUES ($1, 1, $3)
			ON CONFLICT (key) DO UPDATE SET
				failures   = CASE WHEN f.expires_at <= $2 THEN 1 ELSE f.failures + 1 END,
				expires_at = CASE WHEN f.expires_at <= $2 THEN excluded.expires_at ELSE f.expires_at END
			RETURNING failures, expires_at`,
			key, now, now.Add(window)).Scan(&n, &until)
	})
	if err != nil {
		return 0, time.Time{}, wrapErr("record login failure", err)
	}
	return n, until.UTC(), nil
}

// LoginFailures returns the failures of key's current window.
func (s *Store) LoginFailures(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	var n int
	var until time.Time
	err := s.pool.QueryRow(ctx, `SELECT failures, expires_at FROM login_failures WHERE key = $1 AND expires_at > $2`,
		key, now).Scan(&n, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, wrapErr("read login failures", err)
	}
	return n, until.UTC(), nil
}

// ClearLoginFailures forgets key's failures.
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, key)
	return wrapErr("clear login failures", err)
}

// DeleteExpiredLoginFailures deletes windows that ended before now.
func (s *Store) DeleteExpiredLoginFailures(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE expires_at < $1`, now)
	if err != nil {
		return 0, wrapErr("delete expired login failures", err)
	}
	return tag.RowsAffected(), nil
}
