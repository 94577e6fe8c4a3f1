package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

const keyCols = `id, alg, private_pem, created_at, retired_at, purpose`

func scanKey(sc scanner) (*store.SigningKey, error) {
	var k store.SigningKey
	var retired sql.NullString
	if err := sc.Scan(&k.ID, &k.Alg, &k.PrivatePEM, timeCol{&k.CreatedAt}, &retired, &k.Purpose); err != nil {
		return nil, err
	}
	if retired.Valid {
		t, err := parseTime(retired.String)
		if err != nil {
			return nil, err
		}
		k.RetiredAt = &t
	}
	return &k, nil
}

// insertCurrentKey stores k as a current key (RetiredAt nil whatever k says) and returns
// the record as stored.
func insertCurrentKey(ctx context.Context, tx *sql.Tx, k *store.SigningKey) (*store.SigningKey, error) {
	store.FillTime(&k.CreatedAt)
	if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+keyCols+`) VALUES (?, ?, ?, ?, NULL, ?)`,
		k.ID, k.Alg, k.PrivatePEM, fmtTime(k.CreatedAt), k.KeyPurpose()); err != nil {
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
	rows, err := s.r.QueryContext(ctx, `SELECT `+keyCols+` FROM signing_keys
		ORDER BY created_at DESC, retired_at IS NULL DESC, id DESC`)
	if err != nil {
		return nil, wrapErr("list signing keys", err)
	}
	defer rows.Close()
	var out []*store.SigningKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, wrapErr("list signing keys", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("list signing keys", err)
	}
	return out, nil
}

// EnsureSigningKey stores k as the current key of its purpose only if there is none, and
// returns the current key of that purpose either way. The check and the insert share one BEGIN IMMEDIATE
// transaction, which holds the database's write lock across processes, so of several
// nodes starting at once exactly one key wins (and a unique index on current keys would
// refuse a second one regardless).
func (s *Store) EnsureSigningKey(ctx context.Context, k *store.SigningKey) (*store.SigningKey, error) {
	var cur *store.SigningKey
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		cur, err = scanKey(tx.QueryRowContext(ctx, `SELECT `+keyCols+` FROM signing_keys WHERE retired_at IS NULL AND purpose = ?`, k.KeyPurpose()))
		if !errors.Is(err, sql.ErrNoRows) {
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL AND purpose = ?`,
			fmtTime(k.CreatedAt), k.KeyPurpose()); err != nil {
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE purpose = ?`, k.KeyPurpose()); err != nil {
			return err
		}
		_, err := insertCurrentKey(ctx, tx, k)
		return err
	})
	return wrapErr(fmt.Sprintf("replace signing keys with %q", k.ID), err)
}

// Purge deletes revoked and/or expired access tokens, refresh tokens, authorization
// codes, device codes (used or denied ones count as revoked) and pushed authorization
// requests (used ones count as revoked), and with Expired expired sessions and client
// assertion ids, in one transaction, and returns how many rows went. A zero opts.Now means now.
func (s *Store) Purge(ctx context.Context, opts store.PurgeOptions) (int64, error) {
	var where, deviceWhere, parWhere string
	var args []any
	// A device code is spent once exchanged or denied, a pushed request once used:
	// "revoked" for purging.
	const deviceSpent = `used = 1 OR decision = '` + store.DeviceDenied + `'`
	switch {
	case opts.Revoked && opts.Expired:
		where, args = `revoked = 1 OR expires_at < ?`, []any{fmtTime(purgeNow(opts))}
		deviceWhere = deviceSpent + ` OR expires_at < ?`
		parWhere = `used = 1 OR expires_at < ?`
	case opts.Revoked:
		where, deviceWhere, parWhere = `revoked = 1`, deviceSpent, `used = 1`
	case opts.Expired:
		where, args = `expires_at < ?`, []any{fmtTime(purgeNow(opts))}
		deviceWhere, parWhere = where, where
	default:
		return 0, nil
	}
	var total int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, table := range []string{"access_tokens", "refresh_tokens", "auth_codes", "device_codes", "pushed_authorization_requests"} {
			cond := where
			switch table {
			case "device_codes":
				cond = deviceWhere
			case "pushed_authorization_requests":
				cond = parWhere
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+cond, args...)
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			n, err := rowsAffected(res)
			if err != nil {
				return err
			}
			total += n
		}
		if opts.Expired {
			cutoff := fmtTime(purgeNow(opts))
			// Sessions are never revoked, only deleted at logout, so only expiry applies.
			// Revocation log entries of expired tokens are no use to a guard; the newest
			// stays, so the highest seq, and with it every cursor handed out, remains known.
			for _, q := range []struct{ what, sql string }{
				{"sessions", `DELETE FROM sessions WHERE expires_at < ?`},
				// An assertion id is kept only to refuse a replay of an unexpired assertion.
				{"client_assertion_jtis", `DELETE FROM client_assertion_jtis WHERE expires_at < ?`},
				{"revocations", `DELETE FROM revocations WHERE expires_at < ?
					AND seq < (SELECT max(seq) FROM revocations)`},
			} {
				res, err := tx.ExecContext(ctx, q.sql, cutoff)
				if err != nil {
					return fmt.Errorf("%s: %w", q.what, err)
				}
				n, err := rowsAffected(res)
				if err != nil {
					return err
				}
				total += n
			}
		}
		return nil
	})
	if err != nil {
		return 0, wrapErr("purge", err)
	}
	return total, nil
}

func purgeNow(opts store.PurgeOptions) time.Time {
	if opts.Now.IsZero() {
		return store.Now()
	}
	return opts.Now
}

// ResealSigningKey replaces key id's private_pem with to if it still equals from.
func (s *Store) ResealSigningKey(ctx context.Context, id string, from, to []byte) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE signing_keys SET private_pem = ? WHERE id = ? AND private_pem = ?`, to, id, from)
	if err != nil {
		return false, wrapErr(fmt.Sprintf("reseal signing key %q", id), err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapErr(fmt.Sprintf("reseal signing key %q", id), err)
}
