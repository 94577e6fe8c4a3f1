package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
)

// ListClientsByOwner lists the live clients the user made, oldest first.
func (s *Store) ListClientsByOwner(ctx context.Context, provider, userID string) ([]*store.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients
		WHERE user_id = $1 AND provider = $2 AND NOT revoked ORDER BY created_at, id`, userID, provider)
	if err != nil {
		return nil, wrapErr("list clients by owner", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Client, error) { return scanClient(r) })
	if err != nil {
		return nil, wrapErr("list clients by owner", err)
	}
	return out, nil
}

// ListUserTokens lists the user's live access tokens with their client's name.
func (s *Store) ListUserTokens(ctx context.Context, provider, userID string, now time.Time) ([]*store.UserToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT a.id, a.client_id, a.user_id, a.provider, a.name, a.scopes,
			a.key_id, a.revoked, a.created_at, a.expires_at, c.name, 'personal_access' = ANY (c.grants)
		FROM access_tokens a JOIN clients c ON c.id = a.client_id
		WHERE a.user_id = $1 AND a.provider = $2 AND NOT a.revoked AND a.expires_at > $3
		ORDER BY a.created_at, a.id`, userID, provider, now)
	if err != nil {
		return nil, wrapErr("list user tokens", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.UserToken, error) {
		var ut store.UserToken
		at, err := scanAccess(rowFunc(func(dest ...any) error {
			return r.Scan(append(dest, &ut.ClientName, &ut.Personal)...)
		}))
		if err != nil {
			return nil, err
		}
		ut.AccessToken = *at
		return &ut, nil
	})
	if err != nil {
		return nil, wrapErr("list user tokens", err)
	}
	return out, nil
}

// rowFunc adapts a function to pgx.Row, to scan extra columns after the ones a scan
// helper reads.
type rowFunc func(dest ...any) error

func (f rowFunc) Scan(dest ...any) error { return f(dest...) }

// revokeClientSQL revokes a client, then its refresh tokens and codes, then its access
// tokens (refresh tokens before access tokens, the order of every revoking statement).
// Marking the client revoked takes a FOR NO KEY UPDATE lock, which does not block
// issuing tokens to it.
const revokeClientSQL = `WITH c AS (
		UPDATE clients SET revoked = true, updated_at = $2 WHERE id = $1 RETURNING 1
	), r AS (
		UPDATE refresh_tokens SET revoked = true
		WHERE client_id = $1 AND NOT revoked AND EXISTS (SELECT 1 FROM c)
		RETURNING 1
	), k AS (
		UPDATE auth_codes SET revoked = true
		WHERE client_id = $1 AND NOT revoked AND EXISTS (SELECT 1 FROM c)
		RETURNING 1
	), a AS (
		UPDATE access_tokens SET revoked = true
		WHERE client_id = $1 AND NOT revoked AND (SELECT count(*) FROM r) >= 0
			AND (SELECT count(*) FROM k) >= 0 AND EXISTS (SELECT 1 FROM c)
		RETURNING id, expires_at
	)
	SELECT (SELECT count(*) FROM c), ` + revokedArrays

// RevokeClient revokes a client and everything issued to it, and logs the access tokens
// it revoked in the revocation log, in one transaction.
func (s *Store) RevokeClient(ctx context.Context, id string) ([]string, error) {
	found, ids, err := s.revokeLogged(ctx, revokeClientSQL, id, store.Now())
	if err == nil && found == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("revoke client %q", id), err)
	}
	return ids, nil
}
