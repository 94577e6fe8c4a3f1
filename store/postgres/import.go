package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
)

// errDryRun rolls a dry run's transaction back after it has counted everything.
var errDryRun = errors.New("dry run")

// ImportPassport writes imp in one transaction; see store.ImportStore. Tokens, which can
// be millions, are COPYed into temporary tables and moved over with one INSERT ... ON
// CONFLICT (id) DO NOTHING each, so records already there are kept and not counted.
func (s *Store) ImportPassport(ctx context.Context, imp *store.PassportImport) (store.ImportCounts, error) {
	var n store.ImportCounts
	var logged int
	err := retry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			n, logged = store.ImportCounts{}, 0
			for _, c := range imp.Clients {
				store.PrepareClient(c)
				tag, err := tx.Exec(ctx, `INSERT INTO clients (`+clientCols+`)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) ON CONFLICT (id) DO NOTHING`, clientArgs(c)...)
				if err != nil {
					return fmt.Errorf("client %q: %w", c.ID, err)
				}
				n.Clients += int(tag.RowsAffected())
			}
			rows := make([][]any, len(imp.AccessTokens))
			for i, at := range imp.AccessTokens {
				store.FillTime(&at.CreatedAt)
				rows[i] = accessArgs(at)
			}
			var ids []string
			var exps []time.Time
			var err error
			n.AccessTokens, err = copyInsert(ctx, tx, "access_tokens", accessCols, rows,
				`ARRAY(SELECT id FROM i WHERE revoked AND expires_at > now() ORDER BY id),
				 ARRAY(SELECT expires_at FROM i WHERE revoked AND expires_at > now() ORDER BY id)`,
				"id, revoked, expires_at", &ids, &exps)
			if err != nil {
				return fmt.Errorf("access tokens: %w", err)
			}
			rows = make([][]any, len(imp.RefreshTokens))
			for i, rt := range imp.RefreshTokens {
				store.FillTime(&rt.CreatedAt)
				rows[i] = refreshArgs(rt)
			}
			if n.RefreshTokens, err = copyInsert(ctx, tx, "refresh_tokens", refreshCols, rows, "", ""); err != nil {
				return fmt.Errorf("refresh tokens: %w", err)
			}
			if len(ids) > 0 {
				if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.logLock); err != nil {
					return fmt.Errorf("lock revocation log: %w", err)
				}
				if _, err := tx.Exec(ctx, `WITH i AS (
						INSERT INTO revocations (token_id, expires_at)
						SELECT * FROM unnest($1::text[], $2::timestamptz[])
						RETURNING seq
					)
					SELECT pg_notify($3, (SELECT max(seq) FROM i)::text)`, ids, exps, s.channel); err != nil {
					return fmt.Errorf("log revocation: %w", err)
				}
				logged = len(ids)
			}
			n.Revocations = logged
			if k := imp.SigningKey; k != nil {
				if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.keyLock); err != nil {
					return fmt.Errorf("lock signing keys: %w", err)
				}
				var exists bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE id = $1)`, k.ID).Scan(&exists); err != nil {
					return err
				}
				if !exists {
					store.FillTime(&k.CreatedAt)
					if _, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL AND purpose = 'access'`, store.Now()); err != nil {
						return err
					}
					if _, err := insertCurrentKey(ctx, tx, k); err != nil {
						return err
					}
					n.SigningKey = true
				}
			}
			if imp.DryRun {
				return errDryRun
			}
			return nil
		})
	})
	if errors.Is(err, errDryRun) {
		return n, nil
	}
	if err != nil {
		return store.ImportCounts{}, wrapErr("import passport", err)
	}
	return n, nil
}

// copyInsert COPYs rows into a temporary copy of table and inserts those whose id is not
// in table yet, returning how many it inserted. With returning (columns of the inserted
// rows, named i) and extra (SELECT expressions over i), extra's values are scanned into dest.
func copyInsert(ctx context.Context, tx pgx.Tx, table, cols string, rows [][]any, extra, returning string, dest ...any) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	tmp := "import_" + table
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+tmp+` (LIKE `+table+`) ON COMMIT DROP`); err != nil {
		return 0, err
	}
	names := strings.Split(strings.ReplaceAll(cols, " ", ""), ",")
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{tmp}, names, pgx.CopyFromRows(rows)); err != nil {
		return 0, err
	}
	insert := `INSERT INTO ` + table + ` (` + cols + `) SELECT ` + cols + ` FROM ` + tmp + ` ON CONFLICT (id) DO NOTHING`
	if returning == "" {
		tag, err := tx.Exec(ctx, insert)
		if err != nil {
			return 0, err
		}
		_, err = tx.Exec(ctx, `DROP TABLE `+tmp)
		return int(tag.RowsAffected()), err
	}
	var count int
	if err := tx.QueryRow(ctx, `WITH i AS (`+insert+` RETURNING `+returning+`) SELECT (SELECT count(*) FROM i), `+extra).
		Scan(append([]any{&count}, dest...)...); err != nil {
		return 0, err
	}
	_, err := tx.Exec(ctx, `DROP TABLE `+tmp)
	return count, err
}

// RevokeTokensOf revokes every token of a user, of a client, or of both together; see
// store.ImportStore.
func (s *Store) RevokeTokensOf(ctx context.Context, userID, clientID string) ([]string, error) {
	if userID == "" && clientID == "" {
		return nil, errors.New("postgres: revoke tokens: name a user, a client or both")
	}
	// An empty argument matches every row, so one statement serves the three forms;
	// refresh tokens are locked first, the order of every revoking statement.
	const match = `($1 = '' OR user_id = $1) AND ($2 = '' OR client_id = $2)`
	_, ids, err := s.revokeLogged(ctx, `WITH r AS (
			UPDATE refresh_tokens SET revoked = true WHERE NOT revoked AND `+match+` RETURNING 1
		), a AS (
			UPDATE access_tokens SET revoked = true
			WHERE NOT revoked AND `+match+` AND (SELECT count(*) FROM r) >= 0
			RETURNING id, expires_at
		)
		SELECT (SELECT count(*) FROM a), `+revokedArrays, userID, clientID)
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("revoke tokens of user %q client %q", userID, clientID), err)
	}
	return ids, nil
}
