package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/caddyoauth/caddy-oauth/store"
)

const accessCols = `id, client_id, user_id, provider, name, scopes, key_id, revoked, created_at, expires_at`

const insertAccessSQL = `INSERT INTO access_tokens (` + accessCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func accessArgs(at *store.AccessToken) []any {
	return []any{at.ID, at.ClientID, at.UserID, at.Provider, at.Name, encodeList(at.Scopes),
		at.KeyID, at.Revoked, fmtTime(at.CreatedAt), fmtTime(at.ExpiresAt)}
}

func scanAccess(sc scanner) (*store.AccessToken, error) {
	var at store.AccessToken
	if err := sc.Scan(&at.ID, &at.ClientID, &at.UserID, &at.Provider, &at.Name, listCol{&at.Scopes},
		&at.KeyID, &at.Revoked, timeCol{&at.CreatedAt}, timeCol{&at.ExpiresAt}); err != nil {
		return nil, err
	}
	return &at, nil
}

const refreshCols = `id, access_token_id, family_id, client_id, user_id, provider, scopes, revoked, created_at, expires_at,
	dpop_jkt, cert_thumbprint, auth_time`

const insertRefreshSQL = `INSERT INTO refresh_tokens (` + refreshCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func refreshArgs(rt *store.RefreshToken) []any {
	return []any{rt.ID, rt.AccessTokenID, rt.FamilyID, rt.ClientID, rt.UserID, rt.Provider,
		encodeList(rt.Scopes), rt.Revoked, fmtTime(rt.CreatedAt), fmtTime(rt.ExpiresAt), rt.DPoPJKT, rt.CertThumbprint,
		store.UnixSeconds(rt.AuthTime)}
}

func scanRefresh(sc scanner) (*store.RefreshToken, error) {
	var rt store.RefreshToken
	var authTime int64
	if err := sc.Scan(&rt.ID, &rt.AccessTokenID, &rt.FamilyID, &rt.ClientID, &rt.UserID,
		&rt.Provider, listCol{&rt.Scopes}, &rt.Revoked, timeCol{&rt.CreatedAt}, timeCol{&rt.ExpiresAt},
		&rt.DPoPJKT, &rt.CertThumbprint, &authTime); err != nil {
		return nil, err
	}
	rt.AuthTime = store.UnixTime(authTime)
	return &rt, nil
}

const codeCols = `id, client_id, user_id, provider, scopes, redirect_uri, code_challenge,
	code_challenge_method, revoked, created_at, expires_at, access_token_id, nonce, auth_time, dpop_jkt`

func scanCode(sc scanner) (*store.AuthCode, error) {
	var c store.AuthCode
	var authTime int64
	if err := sc.Scan(&c.ID, &c.ClientID, &c.UserID, &c.Provider, listCol{&c.Scopes}, &c.RedirectURI,
		&c.CodeChallenge, &c.CodeChallengeMethod, &c.Revoked, timeCol{&c.CreatedAt}, timeCol{&c.ExpiresAt}, &c.AccessTokenID,
		&c.Nonce, &authTime, &c.DPoPJKT); err != nil {
		return nil, err
	}
	c.AuthTime = store.UnixTime(authTime)
	return &c, nil
}

// insertPair inserts an access token and, when refresh is not nil, its refresh token,
// inside tx, with the statements prepared on the writer connection.
func (s *Store) insertPair(ctx context.Context, tx *sql.Tx, at *store.AccessToken, refresh *store.RefreshToken) error {
	if _, err := tx.StmtContext(ctx, s.insertAccess).ExecContext(ctx, accessArgs(at)...); err != nil {
		return err
	}
	if refresh != nil {
		if _, err := tx.StmtContext(ctx, s.insertRefresh).ExecContext(ctx, refreshArgs(refresh)...); err != nil {
			return err
		}
	}
	return nil
}

// CreateAccessToken records an issued access token, and the refresh token issued with it
// when refresh is not nil, atomically. store.ErrConflict if either id exists;
// store.ErrNotFound if the client does not exist. Concurrent calls share a transaction
// (see batch.go).
func (s *Store) CreateAccessToken(ctx context.Context, at *store.AccessToken, refresh *store.RefreshToken) error {
	store.PrepareTokenPair(at, refresh)
	return wrapErr(fmt.Sprintf("create access token %q", at.ID), s.issueBatched(ctx, at, refresh))
}

// GetAccessToken returns an access token record by id (jti); store.ErrNotFound if absent.
func (s *Store) GetAccessToken(ctx context.Context, id string) (*store.AccessToken, error) {
	at, err := scanAccess(s.r.QueryRowContext(ctx, `SELECT `+accessCols+` FROM access_tokens WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get access token %q", id), err)
	}
	return at, nil
}

// ListAccessTokens lists a user's tokens of every client, revoked and expired ones
// included, ordered by creation time (then id).
func (s *Store) ListAccessTokens(ctx context.Context, userID string) ([]*store.AccessToken, error) {
	op := fmt.Sprintf("list access tokens of user %q", userID)
	rows, err := s.r.QueryContext(ctx, `SELECT `+accessCols+` FROM access_tokens
		WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	defer rows.Close()
	var out []*store.AccessToken
	for rows.Next() {
		at, err := scanAccess(rows)
		if err != nil {
			return nil, wrapErr(op, err)
		}
		out = append(out, at)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(op, err)
	}
	return out, nil
}

// RevokeAccessToken revokes an access token and the refresh tokens issued with it, and
// logs the revocation; store.ErrNotFound (and nothing changed) if the access token is
// absent.
func (s *Store) RevokeAccessToken(ctx context.Context, id string) error {
	_, err := s.revokeTx(ctx, func(tx *sql.Tx) ([]revokedToken, error) {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM access_tokens WHERE id = ?)`, id).Scan(&exists); err != nil {
			return nil, err
		}
		if !exists {
			return nil, store.ErrNotFound
		}
		revoked, err := scanRevoked(tx.QueryContext(ctx, `UPDATE access_tokens SET revoked = 1
			WHERE id = ? AND revoked = 0 RETURNING id, expires_at`, id))
		if err != nil {
			return nil, err
		}
		_, err = tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked = 1 WHERE access_token_id = ?`, id)
		return revoked, err
	})
	return wrapErr(fmt.Sprintf("revoke access token %q", id), err)
}

// GetRefreshToken returns a refresh token record by id (digest); store.ErrNotFound if
// absent.
func (s *Store) GetRefreshToken(ctx context.Context, id string) (*store.RefreshToken, error) {
	rt, err := scanRefresh(s.r.QueryRowContext(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr("get refresh token", err)
	}
	return rt, nil
}

// RotateRefreshToken marks the refresh token oldID revoked and records the new access
// token and refresh token (refresh may be nil), in one transaction. The conditional
// UPDATE ... WHERE revoked = 0 decides the race: of two concurrent rotations one changes
// the row and the other changes nothing and gets store.ErrAlreadyUsed.
// store.ErrNotFound if oldID does not exist.
func (s *Store) RotateRefreshToken(ctx context.Context, oldID string, at *store.AccessToken, refresh *store.RefreshToken) error {
	store.PrepareTokenPair(at, refresh)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := markUsed(ctx, tx, "refresh_tokens", oldID,
			`UPDATE refresh_tokens SET revoked = 1 WHERE id = ? AND revoked = 0`, oldID); err != nil {
			return err
		}
		return s.insertPair(ctx, tx, at, refresh)
	})
	return wrapErr("rotate refresh token", err)
}

// RevokeRefreshFamily revokes every refresh token of the family and every access token
// issued with them, and logs the access tokens. A family with no tokens is not an error.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	_, err := s.revokeTx(ctx, func(tx *sql.Tx) ([]revokedToken, error) {
		revoked, err := scanRevoked(tx.QueryContext(ctx, `UPDATE access_tokens SET revoked = 1
			WHERE revoked = 0 AND id IN (SELECT access_token_id FROM refresh_tokens WHERE family_id = ?)
			RETURNING id, expires_at`, familyID))
		if err != nil {
			return nil, err
		}
		_, err = tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?`, familyID)
		return revoked, err
	})
	return wrapErr(fmt.Sprintf("revoke refresh token family %q", familyID), err)
}

// CreateAuthCode records an authorization code; store.ErrConflict if the id exists,
// store.ErrNotFound if the client does not exist.
func (s *Store) CreateAuthCode(ctx context.Context, c *store.AuthCode) error {
	store.FillTime(&c.CreatedAt)
	_, err := s.w.ExecContext(ctx, `INSERT INTO auth_codes (`+codeCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.ClientID, c.UserID, c.Provider, encodeList(c.Scopes), c.RedirectURI, c.CodeChallenge,
		c.CodeChallengeMethod, c.Revoked, fmtTime(c.CreatedAt), fmtTime(c.ExpiresAt), c.AccessTokenID,
		c.Nonce, store.UnixSeconds(c.AuthTime), c.DPoPJKT)
	return wrapErr("create authorization code", err)
}

// markUsed runs update, which marks the unused row id of table used (or revoked). When it
// changes nothing, it tells a row already used (store.ErrAlreadyUsed) from a missing one
// (store.ErrNotFound), so one-use records (refresh tokens, authorization codes) get the
// same answers everywhere.
func markUsed(ctx context.Context, tx *sql.Tx, table, id, update string, args ...any) error {
	res, err := tx.ExecContext(ctx, update, args...)
	if err != nil {
		return err
	}
	n, err := rowsAffected(res)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE id = ?)`, id).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return store.ErrAlreadyUsed
	}
	return store.ErrNotFound
}
