package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// revokedToken is an access token a revocation changed, to be logged.
type revokedToken struct {
	id      string
	expires string // stored form
}

// scanRevoked reads the (id, expires_at) rows of an UPDATE ... RETURNING.
func scanRevoked(rows *sql.Rows, err error) ([]revokedToken, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []revokedToken
	for rows.Next() {
		var r revokedToken
		if err := rows.Scan(&r.id, &r.expires); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// logRevocations appends revoked access tokens to the revocation log inside tx. The
// writer connection is the only one writing, and SQLite's write lock keeps other
// processes out, so entries commit in seq order.
func logRevocations(ctx context.Context, tx *sql.Tx, revoked []revokedToken) error {
	if len(revoked) == 0 {
		return nil
	}
	at := fmtTime(store.Now())
	for _, r := range revoked {
		if _, err := tx.ExecContext(ctx, `INSERT INTO revocations (token_id, expires_at, revoked_at) VALUES (?, ?, ?)`,
			r.id, r.expires, at); err != nil {
			return fmt.Errorf("log revocation: %w", err)
		}
	}
	return nil
}

// revokeTx runs fn, which revokes tokens and returns the access tokens it revoked, and
// logs them, in one transaction; after the commit it wakes the feed's waiters.
func (s *Store) revokeTx(ctx context.Context, fn func(tx *sql.Tx) ([]revokedToken, error)) ([]revokedToken, error) {
	var revoked []revokedToken
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if revoked, err = fn(tx); err != nil {
			return err
		}
		return logRevocations(ctx, tx, revoked)
	})
	if err != nil {
		return nil, err
	}
	if len(revoked) > 0 {
		s.revocations.Notify()
	}
	return revoked, nil
}

// latestRevocation is the highest seq in the log, 0 when empty.
func (s *Store) latestRevocation(ctx context.Context) (int64, error) {
	var latest int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM revocations`).Scan(&latest)
	return latest, err
}

func scanRevocations(rows *sql.Rows) ([]store.Revocation, error) {
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var r store.Revocation
		var exp string
		if err := rows.Scan(&r.Seq, &r.TokenID, &exp); err != nil {
			return nil, err
		}
		t, err := parseTime(exp)
		if err != nil {
			return nil, err
		}
		r.ExpiresAt = t
		out = append(out, r)
	}
	return out, rows.Err()
}

// RevocationsAfter returns up to limit log entries after the cursor, in order, and the
// highest seq, read first.
func (s *Store) RevocationsAfter(ctx context.Context, after int64, limit int) ([]store.Revocation, int64, error) {
	latest, err := s.latestRevocation(ctx)
	if err != nil {
		return nil, 0, wrapErr("read revocation log", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, token_id, expires_at FROM revocations
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, 0, wrapErr("read revocation log", err)
	}
	out, err := scanRevocations(rows)
	if err != nil {
		return nil, 0, wrapErr("read revocation log", err)
	}
	return out, latest, nil
}

// RevocationSnapshot returns one entry per revoked token expiring after now, in seq
// order, at most limit (all if limit <= 0), and the highest seq, read first.
func (s *Store) RevocationSnapshot(ctx context.Context, at time.Time, limit int) ([]store.Revocation, int64, error) {
	latest, err := s.latestRevocation(ctx)
	if err != nil {
		return nil, 0, wrapErr("read revocation log", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT max(seq) AS last, token_id, max(expires_at) FROM revocations
		WHERE expires_at > ? GROUP BY token_id ORDER BY last LIMIT ?`, fmtTime(at), noLimit(limit))
	if err != nil {
		return nil, 0, wrapErr("read revocation log", err)
	}
	out, err := scanRevocations(rows)
	if err != nil {
		return nil, 0, wrapErr("read revocation log", err)
	}
	return out, latest, nil
}

// RevocationSignal returns a channel closed at the next revocation this store records.
// Only this process's revocations are seen: processes sharing one SQLite file do not
// wake each other's waiters (their feed still catches up at the next poll).
func (s *Store) RevocationSignal() <-chan struct{} { return s.revocations.Wait() }

// RevocationRecheck is one second: another process's revocations on the same file wake
// no waiter here, so a waiter re-reads the log every second to see them.
func (s *Store) RevocationRecheck() time.Duration { return time.Second }

// RevokeOtherTokens revokes the user's other tokens of the client (see store.RevocationStore).
func (s *Store) RevokeOtherTokens(ctx context.Context, userID, clientID, keepAccessTokenID string) ([]string, error) {
	revoked, err := s.revokeTx(ctx, func(tx *sql.Tx) ([]revokedToken, error) {
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked = 1
			WHERE user_id = ? AND client_id = ? AND access_token_id <> ? AND revoked = 0`,
			userID, clientID, keepAccessTokenID); err != nil {
			return nil, err
		}
		return scanRevoked(tx.QueryContext(ctx, `UPDATE access_tokens SET revoked = 1
			WHERE user_id = ? AND client_id = ? AND id <> ? AND name = '' AND revoked = 0
			RETURNING id, expires_at`, userID, clientID, keepAccessTokenID))
	})
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("revoke other tokens of user %q", userID), err)
	}
	ids := make([]string, len(revoked))
	for i, r := range revoked {
		ids[i] = r.id
	}
	return ids, nil
}

// noLimit maps limit <= 0 ("all") to SQLite's LIMIT -1, which means no limit.
func noLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}
