package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/caddyoauth/caddy-oauth/store"
)

// errDryRun rolls a dry run's transaction back after it has counted everything.
var errDryRun = errors.New("dry run")

// ImportPassport writes imp in one write transaction; see store.ImportStore. Rows go in
// through statements prepared once for the transaction, with ON CONFLICT (id) DO NOTHING
// so records already there are kept and not counted.
func (s *Store) ImportPassport(ctx context.Context, imp *store.PassportImport) (store.ImportCounts, error) {
	var n store.ImportCounts
	var logged []revokedToken
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		n, logged = store.ImportCounts{}, nil
		// Millions of rows touch five indexes each: with SQLite's 2 MB page cache most
		// inserts would miss it. The writer connection gets a 256 MB one for the import,
		// and its own back after.
		var cache int64
		if err := tx.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -262144`); err != nil {
			return err
		}
		defer func() {
			_, _ = tx.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA cache_size = %d`, cache))
		}()
		insClient, err := tx.PrepareContext(ctx, `INSERT INTO clients (`+clientCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer insClient.Close()
		for _, c := range imp.Clients {
			store.PrepareClient(c)
			res, err := insClient.ExecContext(ctx, clientArgs(c)...)
			if err != nil {
				return fmt.Errorf("client %q: %w", c.ID, err)
			}
			k, _ := res.RowsAffected()
			n.Clients += int(k)
		}
		if len(imp.AccessTokens) >= rebuildIndexesAt {
			rebuild, derr := dropIndexes(ctx, tx, "access_tokens")
			if derr != nil {
				return derr
			}
			defer func() { // err is the transaction's result: rebuild only what commits
				if err == nil {
					err = rebuild()
				}
			}()
		}
		insAccess, err := tx.PrepareContext(ctx, insertAccessSQL+` ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer insAccess.Close()
		now := store.Now()
		// Tokens that need no log entry go in importBatch rows a statement, which halves
		// the cost of a row; revoked live ones one by one, to know which were new.
		var batch []*store.AccessToken
		full, err := tx.PrepareContext(ctx, batchInsertSQL(importBatch))
		if err != nil {
			return err
		}
		defer full.Close()
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			k, err := insertAccessBatch(ctx, tx, full, batch)
			if err != nil {
				return err
			}
			n.AccessTokens += k
			batch = batch[:0]
			return nil
		}
		for _, at := range imp.AccessTokens {
			store.FillTime(&at.CreatedAt)
			if !(at.Revoked && at.ExpiresAt.After(now)) {
				if batch = append(batch, at); len(batch) == importBatch {
					if err := flush(); err != nil {
						return err
					}
				}
				continue
			}
			res, err := insAccess.ExecContext(ctx, accessArgs(at)...)
			if err != nil {
				return fmt.Errorf("access token %q: %w", at.ID, err)
			}
			if k, _ := res.RowsAffected(); k == 1 {
				n.AccessTokens++
				logged = append(logged, revokedToken{id: at.ID, expires: fmtTime(at.ExpiresAt)})
			}
		}
		if err := flush(); err != nil {
			return err
		}
		insRefresh, err := tx.PrepareContext(ctx, insertRefreshSQL+` ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer insRefresh.Close()
		for _, rt := range imp.RefreshTokens {
			store.FillTime(&rt.CreatedAt)
			res, err := insRefresh.ExecContext(ctx, refreshArgs(rt)...)
			if err != nil {
				return fmt.Errorf("refresh token of access token %q: %w", rt.AccessTokenID, err)
			}
			k, _ := res.RowsAffected()
			n.RefreshTokens += int(k)
		}
		if err := logRevocations(ctx, tx, logged); err != nil {
			return err
		}
		n.Revocations = len(logged)
		if k := imp.SigningKey; k != nil {
			var exists bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE id = ?)`, k.ID).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				store.FillTime(&k.CreatedAt)
				if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL AND purpose = 'access'`,
					fmtTime(store.Now())); err != nil {
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
	if errors.Is(err, errDryRun) {
		return n, nil
	}
	if err != nil {
		return store.ImportCounts{}, wrapErr("import passport", err)
	}
	if len(logged) > 0 {
		s.revocations.Notify()
	}
	return n, nil
}

// importBatch is how many access tokens one INSERT of an import carries (10 parameters
// each). Not more: modernc.org/sqlite binds each parameter by a search through the
// arguments, so a statement's binding grows with the square of its parameters; with
// 1,000,000 tokens, 100 a statement spent 3.8 s binding and imported at 57,000 rows/s,
// 20 a statement at 70,000 (store alone, no reading).
const importBatch = 20

// rebuildIndexesAt is how many access tokens make the import drop the table's secondary
// indexes and build them again after the inserts: one sort per index instead of a
// B-tree insert per row and index. Measured with 1,000,000 tokens from MariaDB (100 a
// statement): 46,700 rows/s with the rebuild, 32,500 without.
const rebuildIndexesAt = 50000

// dropIndexes drops table's secondary indexes in tx and returns what creates them again
// exactly as the migrations wrote them (their SQL, from sqlite_master). The primary key's
// index stays: ON CONFLICT needs it. Both happen in the import's transaction, so a
// failure anywhere leaves the indexes as they were.
func dropIndexes(ctx context.Context, tx *sql.Tx, table string) (rebuild func() error, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, table)
	if err != nil {
		return nil, err
	}
	var names, creates []string
	for rows.Next() {
		var name, create string
		if err := rows.Scan(&name, &create); err != nil {
			rows.Close()
			return nil, err
		}
		names, creates = append(names, name), append(creates, create)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, name := range names {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
			return nil, err
		}
	}
	return func() error {
		for _, create := range creates {
			if _, err := tx.ExecContext(ctx, create); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// insertAccessBatch inserts access tokens with one statement, keeping any whose id
// exists, and returns how many it inserted.
// full is the prepared statement for importBatch tokens; a shorter last batch gets its own.
func insertAccessBatch(ctx context.Context, tx *sql.Tx, full *sql.Stmt, batch []*store.AccessToken) (int, error) {
	args := make([]any, 0, len(batch)*10)
	for _, at := range batch {
		args = append(args, accessArgs(at)...)
	}
	var res sql.Result
	var err error
	if len(batch) == importBatch {
		res, err = full.ExecContext(ctx, args...)
	} else {
		res, err = tx.ExecContext(ctx, batchInsertSQL(len(batch)), args...)
	}
	if err != nil {
		return 0, fmt.Errorf("access tokens %q to %q: %w", batch[0].ID, batch[len(batch)-1].ID, err)
	}
	k, err := res.RowsAffected()
	return int(k), err
}

// batchInsertSQL inserts n access tokens, keeping any whose id exists.
func batchInsertSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO access_tokens (` + accessCols + `) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	}
	b.WriteString(` ON CONFLICT (id) DO NOTHING`)
	return b.String()
}

// RevokeTokensOf revokes every token of a user, of a client, or of both together; see
// store.ImportStore.
func (s *Store) RevokeTokensOf(ctx context.Context, userID, clientID string) ([]string, error) {
	if userID == "" && clientID == "" {
		return nil, errors.New("sqlite: revoke tokens: name a user, a client or both")
	}
	// An empty argument matches every row, so one statement serves the three forms.
	const match = `(? = '' OR user_id = ?) AND (? = '' OR client_id = ?)`
	args := []any{userID, userID, clientID, clientID}
	revoked, err := s.revokeTx(ctx, func(tx *sql.Tx) ([]revokedToken, error) {
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked = 1 WHERE revoked = 0 AND `+match, args...); err != nil {
			return nil, err
		}
		return scanRevoked(tx.QueryContext(ctx, `UPDATE access_tokens SET revoked = 1
			WHERE revoked = 0 AND `+match+` RETURNING id, expires_at`, args...))
	})
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("revoke tokens of user %q client %q", userID, clientID), err)
	}
	ids := make([]string, len(revoked))
	for i, r := range revoked {
		ids[i] = r.id
	}
	return ids, nil
}
