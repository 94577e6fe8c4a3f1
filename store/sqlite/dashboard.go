package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// ListClientsByOwner lists the live clients the user made, oldest first.
func (s *Store) ListClientsByOwner(ctx context.Context, provider, userID string) ([]*store.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+clientCols+` FROM clients
		WHERE user_id = ? AND provider = ? AND revoked = 0 ORDER BY created_at, id`, userID, provider)
	if err != nil {
		return nil, wrapErr("list clients by owner", err)
	}
	defer rows.Close()
	var out []*store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, wrapErr("list clients by owner", err)
		}
		out = append(out, c)
	}
	return out, wrapErr("list clients by owner", rows.Err())
}

// ListUserTokens lists the user's live access tokens with their client's name.
func (s *Store) ListUserTokens(ctx context.Context, provider, userID string, now time.Time) ([]*store.UserToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT a.id, a.client_id, a.user_id, a.provider, a.name, a.scopes,
			a.key_id, a.revoked, a.created_at, a.expires_at, c.name,
			EXISTS (SELECT 1 FROM json_each(c.grants) WHERE value = 'personal_access')
		FROM access_tokens a JOIN clients c ON c.id = a.client_id
		WHERE a.user_id = ? AND a.provider = ? AND a.revoked = 0 AND a.expires_at > ?
		ORDER BY a.created_at, a.id`, userID, provider, fmtTime(now))
	if err != nil {
		return nil, wrapErr("list user tokens", err)
	}
	defer rows.Close()
	var out []*store.UserToken
	for rows.Next() {
		var ut store.UserToken
		at, err := scanAccess(scanFunc(func(dest ...any) error {
			return rows.Scan(append(dest, &ut.ClientName, &ut.Personal)...)
		}))
		if err != nil {
			return nil, wrapErr("list user tokens", err)
		}
		ut.AccessToken = *at
		out = append(out, &ut)
	}
	return out, wrapErr("list user tokens", rows.Err())
}

// scanFunc adapts a function to the scanner interface, to scan extra columns after the
// ones a scan helper reads.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// RevokeClient revokes a client and everything issued to it, and logs the access tokens
// it revoked in the revocation log, in one transaction.
func (s *Store) RevokeClient(ctx context.Context, id string) ([]string, error) {
	revoked, err := s.revokeTx(ctx, func(tx *sql.Tx) ([]revokedToken, error) {
		res, err := tx.ExecContext(ctx, `UPDATE clients SET revoked = 1, updated_at = ? WHERE id = ?`, fmtTime(store.Now()), id)
		if err := oneRow(res, err); err != nil {
			return nil, err
		}
		for _, table := range []string{"refresh_tokens", "auth_codes"} {
			if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET revoked = 1 WHERE client_id = ? AND revoked = 0`, id); err != nil {
				return nil, err
			}
		}
		return scanRevoked(tx.QueryContext(ctx, `UPDATE access_tokens SET revoked = 1
			WHERE client_id = ? AND revoked = 0 RETURNING id, expires_at`, id))
	})
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("revoke client %q", id), err)
	}
	ids := make([]string, len(revoked))
	for i, r := range revoked {
		ids[i] = r.id
	}
	return ids, nil
}
