package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
)

const sessionCols = `id, user_id, provider, username, csrf_token, created_at, last_seen_at, expires_at`

func scanSession(row pgx.Row) (*store.Session, error) {
	var s store.Session
	if err := row.Scan(&s.ID, &s.UserID, &s.Provider, &s.Username, &s.CSRFToken,
		&s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt); err != nil {
		return nil, err
	}
	utc(&s.CreatedAt)
	utc(&s.LastSeenAt)
	utc(&s.ExpiresAt)
	return &s, nil
}

// CreateSession inserts a session; store.ErrConflict if the id exists.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	store.PrepareSession(sess)
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		sess.ID, sess.UserID, sess.Provider, sess.Username, sess.CSRFToken,
		sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt)
	return wrapErr("create session", err)
}

// GetSession returns a session by id, expired or not; store.ErrNotFound if absent.
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	sess, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = $1`, id))
	if err != nil {
		return nil, wrapErr("get session", notFound(err))
	}
	return sess, nil
}

// TouchSession sets the session's last use and expiry; store.ErrNotFound if absent.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, expiresAt time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1`,
		id, lastSeen, expiresAt)
	return wrapErr("touch session", oneRow(tag, err))
}

// DeleteSession removes a session; store.ErrNotFound if absent.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return wrapErr("delete session", oneRow(tag, err))
}

// DeleteUserSessions removes every session of a user and returns how many went.
func (s *Store) DeleteUserSessions(ctx context.Context, provider, userID string) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE provider = $1 AND user_id = $2`, provider, userID)
	if err != nil {
		return 0, wrapErr("delete user sessions", err)
	}
	return tag.RowsAffected(), nil
}

const consentCols = `provider, user_id, client_id, scopes, created_at, updated_at`

func scanConsent(row pgx.Row) (*store.Consent, error) {
	var c store.Consent
	if err := row.Scan(&c.Provider, &c.UserID, &c.ClientID, &c.Scopes, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	c.Scopes = readList(c.Scopes)
	utc(&c.CreatedAt)
	utc(&c.UpdatedAt)
	return &c, nil
}

// GetConsent returns the user's consent for a client; store.ErrNotFound if none.
func (s *Store) GetConsent(ctx context.Context, provider, userID, clientID string) (*store.Consent, error) {
	c, err := scanConsent(s.pool.QueryRow(ctx, `SELECT `+consentCols+` FROM consents
		WHERE provider = $1 AND user_id = $2 AND client_id = $3`, provider, userID, clientID))
	if err != nil {
		return nil, wrapErr("get consent", notFound(err))
	}
	return c, nil
}

// SaveConsent inserts a consent or replaces the scopes of the existing one, keeping its
// creation time; store.ErrNotFound if the client does not exist.
func (s *Store) SaveConsent(ctx context.Context, c *store.Consent) error {
	store.PrepareConsent(c)
	_, err := s.pool.Exec(ctx, `INSERT INTO consents (`+consentCols+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (provider, user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at`,
		c.Provider, c.UserID, c.ClientID, list(c.Scopes), c.CreatedAt, c.UpdatedAt)
	return wrapErr(fmt.Sprintf("save consent for client %q", c.ClientID), err)
}

// DeleteConsent removes the user's consent for a client; store.ErrNotFound if absent.
func (s *Store) DeleteConsent(ctx context.Context, provider, userID, clientID string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM consents WHERE provider = $1 AND user_id = $2 AND client_id = $3`,
		provider, userID, clientID)
	return wrapErr("delete consent", oneRow(tag, err))
}

// GetAuthCode returns a code by id (digest), used or not; store.ErrNotFound if absent.
func (s *Store) GetAuthCode(ctx context.Context, id string) (*store.AuthCode, error) {
	c, err := scanCode(s.pool.QueryRow(ctx, `SELECT `+codeCols+` FROM auth_codes WHERE id = $1`, id))
	if err != nil {
		return nil, wrapErr("get authorization code", notFound(err))
	}
	return c, nil
}

// exchangeSQL and exchangePairSQL mark the authorization code $1 used, recording the
// access token on it, and store the access token ($2...) and the refresh token ($12...).
const useAuthCodeSQL = `UPDATE auth_codes SET revoked = true, access_token_id = $2 WHERE id = $1 AND NOT revoked RETURNING id`

var (
	exchangeSQL = oneUseExchangeSQL("auth_codes",
		useAuthCodeSQL, 0)
	exchangePairSQL = oneUseExchangeSQL("auth_codes",
		useAuthCodeSQL, 12)
)

// oneUseExchangeSQL is the statement that redeems a one-use code of table (row $1): use,
// an UPDATE ... RETURNING id that changes the row only if it is still unused, and only
// when it did, the inserts of the access token ($2 on) and, with refreshAt > 0, of the
// refresh token ($refreshAt on). It answers whether it used the code and whether the code
// exists (usedOrMissing), so a used code and a missing one get different errors.
func oneUseExchangeSQL(table, use string, refreshAt int) string {
	q := `WITH c AS (` + use + `), a AS (
			INSERT INTO access_tokens (` + accessCols + `)
			SELECT ` + params(2, accessTypes) + ` WHERE EXISTS (SELECT 1 FROM c)
		)`
	if refreshAt > 0 {
		q += `, r AS (
			INSERT INTO refresh_tokens (` + refreshCols + `)
			SELECT ` + params(refreshAt, refreshTypes) + ` WHERE EXISTS (SELECT 1 FROM c)
		)`
	}
	return q + ` SELECT EXISTS (SELECT 1 FROM c), EXISTS (SELECT 1 FROM ` + table + ` WHERE id = $1)`
}

// ExchangeAuthCode marks the code used, records the access token on it and stores the
// tokens, in one statement. Of two concurrent exchanges the second waits on the row lock
// of the first, then finds the code used, inserts nothing and gets store.ErrAlreadyUsed.
func (s *Store) ExchangeAuthCode(ctx context.Context, codeID string, at *store.AccessToken, refresh *store.RefreshToken) error {
	store.PrepareTokenPair(at, refresh)
	var used, exists bool
	var err error
	if refresh == nil {
		err = s.pool.QueryRow(ctx, exchangeSQL, append([]any{codeID}, accessArgs(at)...)...).Scan(&used, &exists)
	} else {
		args := append(append([]any{codeID}, accessArgs(at)...), refreshArgs(refresh)...)
		err = s.pool.QueryRow(ctx, exchangePairSQL, args...).Scan(&used, &exists)
	}
	return wrapErr("exchange authorization code", usedOrMissing(err, used, exists))
}

// RevokeAuthCodeTokens revokes the access token the code was exchanged for and the whole
// refresh family issued with it, in one statement that locks refresh tokens first.
func (s *Store) RevokeAuthCodeTokens(ctx context.Context, codeID string) error {
	// Logged like every revocation, so guards following the feed refuse these tokens too.
	_, _, err := s.revokeLogged(ctx, revokeCodeSQL, codeID)
	return wrapErr("revoke tokens of authorization code", err)
}
