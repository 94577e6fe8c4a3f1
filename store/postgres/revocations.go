package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
)

// The revoking statements below end in the same SELECT: how many rows the statement
// found (for ErrNotFound), and the ids and expiries of the access tokens it revoked, as
// two arrays in the same order, for the revocation log.
const revokedArrays = `ARRAY(SELECT id FROM a ORDER BY id), ARRAY(SELECT expires_at FROM a ORDER BY id)`

var (
	// revokeAccessSQL locks the refresh tokens first, the order of every statement here.
	revokeAccessSQL = `WITH r AS (
			UPDATE refresh_tokens SET revoked = true
			WHERE access_token_id = $1 AND EXISTS (SELECT 1 FROM access_tokens WHERE id = $1)
			RETURNING 1
		), a AS (
			UPDATE access_tokens SET revoked = true
			WHERE id = $1 AND NOT revoked AND (SELECT count(*) FROM r) >= 0
			RETURNING id, expires_at
		)
		SELECT (SELECT count(*) FROM access_tokens WHERE id = $1), ` + revokedArrays

	revokeFamilySQL = `WITH r AS (
			UPDATE refresh_tokens SET revoked = true WHERE family_id = $1 RETURNING access_token_id
		), a AS (
			UPDATE access_tokens SET revoked = true
			WHERE id IN (SELECT access_token_id FROM r) AND NOT revoked
			RETURNING id, expires_at
		)
		SELECT (SELECT count(*) FROM r), ` + revokedArrays

	// revokeCodeSQL revokes the access token an authorization code was exchanged for and
	// every token of the refresh family issued with it (a reused code, RFC 6749 §4.1.2).
	revokeCodeSQL = `WITH code AS (
			SELECT access_token_id FROM auth_codes WHERE id = $1 AND access_token_id <> ''
		), r AS (
			UPDATE refresh_tokens SET revoked = true WHERE family_id IN
				(SELECT family_id FROM refresh_tokens WHERE access_token_id IN (SELECT access_token_id FROM code))
			RETURNING access_token_id
		), a AS (
			UPDATE access_tokens SET revoked = true
			WHERE (id IN (SELECT access_token_id FROM r) OR id IN (SELECT access_token_id FROM code)) AND NOT revoked
			RETURNING id, expires_at
		)
		SELECT (SELECT count(*) FROM code), ` + revokedArrays

	revokeOthersSQL = `WITH r AS (
			UPDATE refresh_tokens SET revoked = true
			WHERE user_id = $1 AND client_id = $2 AND access_token_id <> $3 AND NOT revoked
			RETURNING 1
		), a AS (
			UPDATE access_tokens SET revoked = true
			WHERE user_id = $1 AND client_id = $2 AND id <> $3 AND name = '' AND NOT revoked
				AND (SELECT count(*) FROM r) >= 0
			RETURNING id, expires_at
		)
		SELECT (SELECT count(*) FROM a), ` + revokedArrays
)

// revokeLogged runs one of the revoking statements and appends the access tokens it
// revoked to the revocation log, in one transaction, and returns the rows it found and
// the ids it revoked. Listeners on every node are notified when it commits.
//
// The log's order must be the order in which entries become visible, or a reader could
// pass a seq whose transaction had not committed yet and never see it. So a writer takes
// a transaction-scoped advisory lock before it draws seqs and keeps it until it commits:
// log writers commit one after the other. The lock is taken after the token rows, and a
// writer holding it waits for nothing else, so it adds no deadlock.
func (s *Store) revokeLogged(ctx context.Context, sql string, args ...any) (int64, []string, error) {
	var found int64
	var ids []string
	err := retry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var exps []time.Time
			if err := tx.QueryRow(ctx, sql, args...).Scan(&found, &ids, &exps); err != nil {
				return err
			}
			if len(ids) == 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.logLock); err != nil {
				return fmt.Errorf("lock revocation log: %w", err)
			}
			_, err := tx.Exec(ctx, `WITH i AS (
					INSERT INTO revocations (token_id, expires_at)
					SELECT * FROM unnest($1::text[], $2::timestamptz[])
					RETURNING seq
				)
				SELECT pg_notify($3, (SELECT max(seq) FROM i)::text)`, ids, exps, s.channel)
			if err != nil {
				return fmt.Errorf("log revocation: %w", err)
			}
			return nil
		})
	})
	return found, ids, err
}

// RevokeAccessToken revokes an access token and the refresh tokens issued with it, and
// logs the revocation; store.ErrNotFound (and nothing changed) if the access token is
// absent.
func (s *Store) RevokeAccessToken(ctx context.Context, id string) error {
	found, _, err := s.revokeLogged(ctx, revokeAccessSQL, id)
	if err == nil && found == 0 {
		err = store.ErrNotFound
	}
	return wrapErr(fmt.Sprintf("revoke access token %q", id), err)
}

// RevokeRefreshFamily revokes every refresh token of the family and every access token
// issued with them, and logs the access tokens. A family with no tokens is not an error.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	_, _, err := s.revokeLogged(ctx, revokeFamilySQL, familyID)
	return wrapErr(fmt.Sprintf("revoke refresh token family %q", familyID), err)
}

// RevokeOtherTokens revokes the user's other tokens of the client (see
// store.RevocationStore).
func (s *Store) RevokeOtherTokens(ctx context.Context, userID, clientID, keepAccessTokenID string) ([]string, error) {
	_, ids, err := s.revokeLogged(ctx, revokeOthersSQL, userID, clientID, keepAccessTokenID)
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("revoke other tokens of user %q", userID), err)
	}
	return ids, nil
}

func collectRevocations(rows pgx.Rows) ([]store.Revocation, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Revocation, error) {
		var rv store.Revocation
		err := r.Scan(&rv.Seq, &rv.TokenID, &rv.ExpiresAt)
		utc(&rv.ExpiresAt)
		return rv, err
	})
}

// latestRevocation is the highest seq in the log, 0 when empty.
func (s *Store) latestRevocation(ctx context.Context) (int64, error) {
	var latest int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM revocations`).Scan(&latest)
	return latest, err
}

// RevocationsAfter returns up to limit log entries after the cursor, in order, and the
// highest seq, read first.
func (s *Store) RevocationsAfter(ctx context.Context, after int64, limit int) ([]store.Revocation, int64, error) {
	latest, err := s.latestRevocation(ctx)
	if err != nil {
		return nil, 0, wrapErr("read revocation log", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, token_id, expires_at FROM revocations
		WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, 0, wrapErr("read revocation log", err)
	}
	out, err := collectRevocations(rows)
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
	rows, err := s.pool.Query(ctx, `SELECT max(seq) AS last, token_id, max(expires_at) FROM revocations
		WHERE expires_at > $1 GROUP BY token_id ORDER BY last LIMIT $2`, at, noLimit(limit))
	if err != nil {
		return nil, 0, wrapErr("read revocation log", err)
	}
	out, err := collectRevocations(rows)
	if err != nil {
		return nil, 0, wrapErr("read revocation log", err)
	}
	return out, latest, nil
}

// noLimit maps limit <= 0 ("all") to NULL, for which PostgreSQL's LIMIT means no limit.
func noLimit(limit int) *int {
	if limit <= 0 {
		return nil
	}
	return &limit
}
