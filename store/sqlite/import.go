package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		n, logged = store.ImportCounts{}, nil
		insClient, err := tx.PrepareContext(ctx, `INSERT INTO clients (`+clientCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
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
		insAccess, err := tx.PrepareContext(ctx, insertAccessSQL+` ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return err
		}
		defer insAccess.Close()
		now := store.Now()
		for _, at := range imp.AccessTokens {
			store.FillTime(&at.CreatedAt)
			res, err := insAccess.ExecContext(ctx, accessArgs(at)...)
			if err != nil {
				return fmt.Errorf("access token %q: %w", at.ID, err)
			}
			if k, _ := res.RowsAffected(); k == 1 {
				n.AccessTokens++
				if at.Revoked && at.ExpiresAt.After(now) {
					logged = append(logged, revokedToken{id: at.ID, expires: fmtTime(at.ExpiresAt)})
				}
			}
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
				if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL`,
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
