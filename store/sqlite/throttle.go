package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// RecordLoginFailure counts one failure for key in one UPSERT, starting a new window when
// the previous one has ended. The single writer connection serialises concurrent calls.
func (s *Store) RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	var n int
	var until string
	err := s.w.QueryRowContext(ctx, `
			INSERT INTO login_failures (key, failures, expires_at) VALUES (?1, 1, ?3)
			ON CONFLICT (key) DO UPDATE SET
				failures   = CASE WHEN expires_at <= ?2 THEN 1 ELSE failures + 1 END,
				expires_at = CASE WHEN expires_at <= ?2 THEN excluded.expires_at ELSE expires_at END
			RETURNING failures, expires_at`,
		key, fmtTime(now), fmtTime(now.Add(window))).Scan(&n, &until)
	if err != nil {
		return 0, time.Time{}, wrapErr("record login failure", err)
	}
	t, err := parseTime(until)
	if err != nil {
		return 0, time.Time{}, wrapErr("record login failure", err)
	}
	return n, t, nil
}

// LoginFailures returns the failures of key's current window.
func (s *Store) LoginFailures(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	var n int
	var until string
	err := s.r.QueryRowContext(ctx, `SELECT failures, expires_at FROM login_failures WHERE key = ? AND expires_at > ?`,
		key, fmtTime(now)).Scan(&n, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, wrapErr("read login failures", err)
	}
	t, err := parseTime(until)
	if err != nil {
		return 0, time.Time{}, wrapErr("read login failures", err)
	}
	return n, t, nil
}

// ClearLoginFailures forgets key's failures.
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM login_failures WHERE key = ?`, key)
	return wrapErr("clear login failures", err)
}

// DeleteExpiredLoginFailures deletes windows that ended before now.
func (s *Store) DeleteExpiredLoginFailures(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM login_failures WHERE expires_at < ?`, fmtTime(now))
	if err != nil {
		return 0, wrapErr("delete expired login failures", err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return 0, wrapErr("delete expired login failures", err)
	}
	return n, nil
}
