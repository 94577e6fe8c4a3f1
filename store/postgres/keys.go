package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
)

const keyCols = `id, alg, private_pem, created_at, retired_at, purpose`

func scanKey(row pgx.Row) (*store.SigningKey, error) {
	var k store.SigningKey
	if err := row.Scan(&k.ID, &k.Alg, &k.PrivatePEM, &k.CreatedAt, &k.RetiredAt, &k.Purpose); err != nil {
		return nil, err
	}
	utc(&k.CreatedAt)
	if k.RetiredAt != nil {
		utc(k.RetiredAt)
	}
	return &k, nil
}

// keyTx runs fn in a transaction holding the schema's signing-key advisory lock, which
// Postgres releases at commit or rollback, even if this process dies.
func (s *Store) keyTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return retry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.keyLock); err != nil {
				return fmt.Errorf("lock signing keys: %w", err)
			}
			return fn(tx)
		})
	})
}

// insertCurrentKey stores k as a current key (RetiredAt nil whatever k says) and returns
// the record as stored.
func insertCurrentKey(ctx context.Context, tx pgx.Tx, k *store.SigningKey) (*store.SigningKey, error) {
	store.FillTime(&k.CreatedAt)
	if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+keyCols+`) VALUES ($1, $2, $3, $4, NULL, $5)`,
		k.ID, k.Alg, k.PrivatePEM, k.CreatedAt, k.KeyPurpose()); err != nil {
		return nil, err
	}
	stored := *k
	stored.CreatedAt = stored.CreatedAt.UTC().Truncate(time.Microsecond)
	stored.RetiredAt = nil
	return &stored, nil
}

// ListSigningKeys lists every key, newest first; the current key has RetiredAt nil and,
// among keys created at the same instant, comes first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyCols+` FROM signing_keys
		ORDER BY created_at DESC, retired_at IS NULL DESC, id DESC`)
	if err != nil {
		return nil, wrapErr("list signing keys", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.SigningKey, error) { return scanKey(r) })
	if err != nil {
		return nil, wrapErr("list signing keys", err)
	}
	return out, nil
}

// EnsureSigningKey stores k as the current key of its purpose only if there is none, and
// returns the current key of that purpose either way. The check and the insert run under the signing-key
// advisory lock, so of several nodes starting at once exactly one key wins; the others
// wait for its commit and then read it.
func (s *Store) EnsureSigningKey(ctx context.Context, k *store.SigningKey) (*store.SigningKey, error) {
	var cur *store.SigningKey
	err := s.keyTx(ctx, func(tx pgx.Tx) error {
		var err error
		cur, err = scanKey(tx.QueryRow(ctx, `SELECT `+keyCols+` FROM signing_keys WHERE retired_at IS NULL AND purpose = $1`, k.KeyPurpose()))
		if !isNoRows(err) {
			return err
		}
		cur, err = insertCurrentKey(ctx, tx, k)
		return err
	})
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("ensure signing key %q", k.ID), err)
	}
	return cur, nil
}

// RotateSigningKey retires the current key of k's purpose (RetiredAt = k.CreatedAt) and
// stores k as the new current key of it, in one transaction. With no current key it just stores k.
func (s *Store) RotateSigningKey(ctx context.Context, k *store.SigningKey) error {
	store.FillTime(&k.CreatedAt)
	err := s.keyTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL AND purpose = $2`, k.CreatedAt, k.KeyPurpose()); err != nil {
			return err
		}
		_, err := insertCurrentKey(ctx, tx, k)
		return err
	})
	return wrapErr(fmt.Sprintf("rotate signing key to %q", k.ID), err)
}

// ReplaceSigningKeys deletes every key of k's purpose and stores k as the only, current,
// one of it.
func (s *Store) ReplaceSigningKeys(ctx context.Context, k *store.SigningKey) error {
	err := s.keyTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM signing_keys WHERE purpose = $1`, k.KeyPurpose()); err != nil {
			return err
		}
		_, err := insertCurrentKey(ctx, tx, k)
		return err
	})
	return wrapErr(fmt.Sprintf("replace signing keys with %q", k.ID), err)
}

// Purge deletes revoked and/or expired access tokens, refresh tokens, authorization codes,
// device codes (used or denied ones count as revoked) and pushed authorization requests
// (used ones count as revoked), and with Expired expired sessions and client assertion
// ids, in one statement, and returns how many rows
// went. A zero opts.Now means now. Refresh tokens go first, the lock order of every statement here.
func (s *Store) Purge(ctx context.Context, opts store.PurgeOptions) (int64, error) {
	var where, deviceWhere, parWhere string
	var args []any
	// A device code is spent once exchanged or denied, a pushed request once used:
	// "revoked" for purging.
	const deviceSpent = `used OR decision = '` + store.DeviceDenied + `'`
	switch {
	case opts.Revoked && opts.Expired:
		where, args = `revoked OR expires_at < $1`, []any{purgeNow(opts)}
		deviceWhere = deviceSpent + ` OR expires_at < $1`
		parWhere = `used OR expires_at < $1`
	case opts.Revoked:
		where, deviceWhere, parWhere = `revoked`, deviceSpent, `used`
	case opts.Expired:
		where, args = `expires_at < $1`, []any{purgeNow(opts)}
		deviceWhere, parWhere = where, where
	default:
		return 0, nil
	}
	// Sessions are never revoked, only deleted at logout, so only expiry applies to them.
	sessions := `false`
	if opts.Expired {
		sessions = `expires_at < $1`
	}
	// An assertion id is kept only to refuse a replay of an unexpired assertion, so only
	// expiry applies too.
	jtis := sessions
	// Log entries of expired tokens are no use to a guard; the newest stays, so the
	// highest seq, and with it every cursor handed out, remains known.
	logSQL := ""
	if opts.Expired {
		logSQL = `WITH l AS (DELETE FROM revocations WHERE expires_at < $1
				AND seq < (SELECT max(seq) FROM revocations) RETURNING 1)
			SELECT count(*) FROM l`
	}
	var n, logged int64
	err := retry(ctx, func() error {
		return s.pool.QueryRow(ctx, `WITH
				r AS (DELETE FROM refresh_tokens WHERE `+where+` RETURNING 1),
				a AS (DELETE FROM access_tokens WHERE `+where+` RETURNING 1),
				c AS (DELETE FROM auth_codes WHERE `+where+` RETURNING 1),
				d AS (DELETE FROM device_codes WHERE `+deviceWhere+` RETURNING 1),
				p AS (DELETE FROM pushed_authorization_requests WHERE `+parWhere+` RETURNING 1),
				s AS (DELETE FROM sessions WHERE `+sessions+` RETURNING 1),
				j AS (DELETE FROM client_assertion_jtis WHERE `+jtis+` RETURNING 1)
			SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM a) + (SELECT count(*) FROM c)
				+ (SELECT count(*) FROM d) + (SELECT count(*) FROM p) + (SELECT count(*) FROM s)
				+ (SELECT count(*) FROM j)`,
			args...).Scan(&n)
	})
	if err == nil && opts.Expired {
		err = s.pool.QueryRow(ctx, logSQL, purgeNow(opts)).Scan(&logged)
		n += logged
	}
	if err != nil {
		return 0, wrapErr("purge", err)
	}
	return n, nil
}

func purgeNow(opts store.PurgeOptions) time.Time {
	if opts.Now.IsZero() {
		return store.Now()
	}
	return opts.Now
}

// ResealSigningKey replaces key id's private_pem with to if it still equals from.
func (s *Store) ResealSigningKey(ctx context.Context, id string, from, to []byte) (bool, error) {
	var n int64
	err := retry(ctx, func() error {
		tag, err := s.pool.Exec(ctx, `UPDATE signing_keys SET private_pem = $1 WHERE id = $2 AND private_pem = $3`, to, id, from)
		n = tag.RowsAffected()
		return err
	})
	return n == 1, wrapErr(fmt.Sprintf("reseal signing key %q", id), err)
}
