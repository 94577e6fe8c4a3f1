package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
)

const accessCols = `id, client_id, user_id, provider, name, scopes, key_id, revoked, created_at, expires_at`

var accessTypes = []string{"text", "text", "text", "text", "text", "text[]", "text", "boolean", "timestamptz", "timestamptz"}

func accessArgs(at *store.AccessToken) []any {
	return []any{at.ID, at.ClientID, at.UserID, at.Provider, at.Name, list(at.Scopes), at.KeyID,
		at.Revoked, at.CreatedAt, at.ExpiresAt}
}

func scanAccess(row pgx.Row) (*store.AccessToken, error) {
	var at store.AccessToken
	if err := row.Scan(&at.ID, &at.ClientID, &at.UserID, &at.Provider, &at.Name, &at.Scopes,
		&at.KeyID, &at.Revoked, &at.CreatedAt, &at.ExpiresAt); err != nil {
		return nil, err
	}
	at.Scopes = readList(at.Scopes)
	utc(&at.CreatedAt)
	utc(&at.ExpiresAt)
	return &at, nil
}

const refreshCols = `id, access_token_id, family_id, client_id, user_id, provider, scopes, revoked, created_at, expires_at, dpop_jkt, cert_thumbprint, auth_time`

var refreshTypes = []string{"text", "text", "text", "text", "text", "text", "text[]", "boolean", "timestamptz", "timestamptz",
	"text", "text", "bigint"}

func refreshArgs(rt *store.RefreshToken) []any {
	return []any{rt.ID, rt.AccessTokenID, rt.FamilyID, rt.ClientID, rt.UserID, rt.Provider,
		list(rt.Scopes), rt.Revoked, rt.CreatedAt, rt.ExpiresAt, rt.DPoPJKT, rt.CertThumbprint,
		store.UnixSeconds(rt.AuthTime)}
}

func scanRefresh(row pgx.Row) (*store.RefreshToken, error) {
	var rt store.RefreshToken
	var authTime int64
	if err := row.Scan(&rt.ID, &rt.AccessTokenID, &rt.FamilyID, &rt.ClientID, &rt.UserID,
		&rt.Provider, &rt.Scopes, &rt.Revoked, &rt.CreatedAt, &rt.ExpiresAt,
		&rt.DPoPJKT, &rt.CertThumbprint, &authTime); err != nil {
		return nil, err
	}
	rt.AuthTime = store.UnixTime(authTime)
	rt.Scopes = readList(rt.Scopes)
	utc(&rt.CreatedAt)
	utc(&rt.ExpiresAt)
	return &rt, nil
}

const codeCols = `id, client_id, user_id, provider, scopes, redirect_uri, code_challenge,
	code_challenge_method, revoked, created_at, expires_at, access_token_id, nonce, auth_time, dpop_jkt`

func scanCode(row pgx.Row) (*store.AuthCode, error) {
	var c store.AuthCode
	var authTime int64
	if err := row.Scan(&c.ID, &c.ClientID, &c.UserID, &c.Provider, &c.Scopes, &c.RedirectURI,
		&c.CodeChallenge, &c.CodeChallengeMethod, &c.Revoked, &c.CreatedAt, &c.ExpiresAt, &c.AccessTokenID,
		&c.Nonce, &authTime, &c.DPoPJKT); err != nil {
		return nil, err
	}
	c.AuthTime = store.UnixTime(authTime)
	c.Scopes = readList(c.Scopes)
	utc(&c.CreatedAt)
	utc(&c.ExpiresAt)
	return &c, nil
}

// params returns "$n::type, ..." for len(types) parameters numbered from first. The
// casts type parameters that sit in a SELECT list (INSERT ... SELECT), where Postgres
// cannot infer them from the target columns.
func params(first int, types []string) string {
	p := make([]string, len(types))
	for i, t := range types {
		p[i] = fmt.Sprintf("$%d::%s", first+i, t)
	}
	return strings.Join(p, ", ")
}

var (
	insertAccessSQL = `INSERT INTO access_tokens (` + accessCols + `) VALUES (` + params(1, accessTypes) + `)`

	// insertPairSQL inserts both tokens in one statement: one round trip, one transaction.
	insertPairSQL = `WITH a AS (
			INSERT INTO access_tokens (` + accessCols + `) VALUES (` + params(1, accessTypes) + `)
		)
		INSERT INTO refresh_tokens (` + refreshCols + `) VALUES (` + params(11, refreshTypes) + `)`

	// rotateSQL revokes the refresh token $1 if it is not revoked yet and, only then,
	// inserts the new pair. It reports whether it revoked it, and whether it exists (as of
	// the statement's start), to tell ErrAlreadyUsed from ErrNotFound.
	rotateSQL = `WITH old AS (
			UPDATE refresh_tokens SET revoked = true WHERE id = $1 AND NOT revoked RETURNING id
		), a AS (
			INSERT INTO access_tokens (` + accessCols + `)
			SELECT ` + params(2, accessTypes) + ` WHERE EXISTS (SELECT 1 FROM old)
		)
		SELECT EXISTS (SELECT 1 FROM old), EXISTS (SELECT 1 FROM refresh_tokens WHERE id = $1)`

	rotatePairSQL = `WITH old AS (
			UPDATE refresh_tokens SET revoked = true WHERE id = $1 AND NOT revoked RETURNING id
		), a AS (
			INSERT INTO access_tokens (` + accessCols + `)
			SELECT ` + params(2, accessTypes) + ` WHERE EXISTS (SELECT 1 FROM old)
		), r AS (
			INSERT INTO refresh_tokens (` + refreshCols + `)
			SELECT ` + params(12, refreshTypes) + ` WHERE EXISTS (SELECT 1 FROM old)
		)
		SELECT EXISTS (SELECT 1 FROM old), EXISTS (SELECT 1 FROM refresh_tokens WHERE id = $1)`
)

// CreateAccessToken records an issued access token, and the refresh token issued with it
// when refresh is not nil, atomically, in one statement, committed with those of
// concurrent calls (batch.go) before it returns. store.ErrConflict if either id exists;
// store.ErrNotFound if the client does not exist.
func (s *Store) CreateAccessToken(ctx context.Context, at *store.AccessToken, refresh *store.RefreshToken) error {
	store.PrepareTokenPair(at, refresh)
	return wrapErr(fmt.Sprintf("create access token %q", at.ID), s.issueBatched(ctx, at, refresh))
}

// GetAccessToken returns an access token record by id (jti); store.ErrNotFound if absent.
func (s *Store) GetAccessToken(ctx context.Context, id string) (*store.AccessToken, error) {
	at, err := scanAccess(s.pool.QueryRow(ctx, `SELECT `+accessCols+` FROM access_tokens WHERE id = $1`, id))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get access token %q", id), notFound(err))
	}
	return at, nil
}

// ListAccessTokens lists a user's tokens of every client, revoked and expired ones
// included, ordered by creation time (then id).
func (s *Store) ListAccessTokens(ctx context.Context, userID string) ([]*store.AccessToken, error) {
	op := fmt.Sprintf("list access tokens of user %q", userID)
	rows, err := s.pool.Query(ctx, `SELECT `+accessCols+` FROM access_tokens
		WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.AccessToken, error) { return scanAccess(r) })
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return out, nil
}

// GetRefreshToken returns a refresh token record by id (digest); store.ErrNotFound if
// absent.
func (s *Store) GetRefreshToken(ctx context.Context, id string) (*store.RefreshToken, error) {
	rt, err := scanRefresh(s.pool.QueryRow(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE id = $1`, id))
	if err != nil {
		return nil, wrapErr("get refresh token", notFound(err))
	}
	return rt, nil
}

// RotateRefreshToken marks the refresh token oldID revoked and records the new access
// token and refresh token (refresh may be nil), in one statement. Of two concurrent
// rotations, the second waits on the row lock of the first, then finds the token revoked,
// inserts nothing and gets store.ErrAlreadyUsed. store.ErrNotFound if oldID does not
// exist.
func (s *Store) RotateRefreshToken(ctx context.Context, oldID string, at *store.AccessToken, refresh *store.RefreshToken) error {
	store.PrepareTokenPair(at, refresh)
	var rotated, exists bool
	var err error
	if refresh == nil {
		err = s.pool.QueryRow(ctx, rotateSQL, append([]any{oldID}, accessArgs(at)...)...).Scan(&rotated, &exists)
	} else {
		args := append(append([]any{oldID}, accessArgs(at)...), refreshArgs(refresh)...)
		err = s.pool.QueryRow(ctx, rotatePairSQL, args...).Scan(&rotated, &exists)
	}
	switch {
	case err != nil:
	case rotated:
	case exists:
		err = store.ErrAlreadyUsed
	default:
		err = store.ErrNotFound
	}
	return wrapErr("rotate refresh token", err)
}

// CreateAuthCode records an authorization code; store.ErrConflict if the id exists,
// store.ErrNotFound if the client does not exist.
func (s *Store) CreateAuthCode(ctx context.Context, c *store.AuthCode) error {
	store.FillTime(&c.CreatedAt)
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_codes (`+codeCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		c.ID, c.ClientID, c.UserID, c.Provider, list(c.Scopes), c.RedirectURI, c.CodeChallenge,
		c.CodeChallengeMethod, c.Revoked, c.CreatedAt, c.ExpiresAt, c.AccessTokenID, c.Nonce, store.UnixSeconds(c.AuthTime), c.DPoPJKT)
	return wrapErr("create authorization code", err)
}
