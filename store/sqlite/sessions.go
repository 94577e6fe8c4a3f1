package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

const sessionCols = `id, user_id, provider, username, csrf_token, created_at, last_seen_at, expires_at`

func scanSession(sc scanner) (*store.Session, error) {
	var s store.Session
	if err := sc.Scan(&s.ID, &s.UserID, &s.Provider, &s.Username, &s.CSRFToken,
		timeCol{&s.CreatedAt}, timeCol{&s.LastSeenAt}, timeCol{&s.ExpiresAt}); err != nil {
		return nil, err
	}
	return &s, nil
}

// CreateSession inserts a session; store.ErrConflict if the id exists.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	store.PrepareSession(sess)
	_, err := s.w.ExecContext(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		sess.ID, sess.UserID, sess.Provider, sess.Username, sess.CSRFToken,
		fmtTime(sess.CreatedAt), fmtTime(sess.LastSeenAt), fmtTime(sess.ExpiresAt))
	return wrapErr("create session", err)
}

// GetSession returns a session by id, expired or not; store.ErrNotFound if absent.
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	sess, err := scanSession(s.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr("get session", err)
	}
	return sess, nil
}

// TouchSession sets the session's last use and expiry; store.ErrNotFound if absent.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, expiresAt time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?`,
		fmtTime(lastSeen), fmtTime(expiresAt), id)
	return wrapErr("touch session", oneRow(res, err))
}

// DeleteSession removes a session; store.ErrNotFound if absent.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return wrapErr("delete session", oneRow(res, err))
}

// DeleteUserSessions removes every session of a user and returns how many went.
func (s *Store) DeleteUserSessions(ctx context.Context, provider, userID string) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE provider = ? AND user_id = ?`, provider, userID)
	if err != nil {
		return 0, wrapErr("delete user sessions", err)
	}
	n, err := rowsAffected(res)
	return n, wrapErr("delete user sessions", err)
}

const consentCols = `provider, user_id, client_id, scopes, created_at, updated_at`

func scanConsent(sc scanner) (*store.Consent, error) {
	var c store.Consent
	if err := sc.Scan(&c.Provider, &c.UserID, &c.ClientID, listCol{&c.Scopes}, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt}); err != nil {
		return nil, err
	}
	return &c, nil
}

// GetConsent returns the user's consent for a client; store.ErrNotFound if none.
func (s *Store) GetConsent(ctx context.Context, provider, userID, clientID string) (*store.Consent, error) {
	c, err := scanConsent(s.r.QueryRowContext(ctx, `SELECT `+consentCols+` FROM consents
		WHERE provider = ? AND user_id = ? AND client_id = ?`, provider, userID, clientID))
	if err != nil {
		return nil, wrapErr("get consent", err)
	}
	return c, nil
}

// SaveConsent inserts a consent or replaces the scopes of the existing one, keeping its
// creation time; store.ErrNotFound if the client does not exist.
func (s *Store) SaveConsent(ctx context.Context, c *store.Consent) error {
	store.PrepareConsent(c)
	_, err := s.w.ExecContext(ctx, `INSERT INTO consents (`+consentCols+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (provider, user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at`,
		c.Provider, c.UserID, c.ClientID, encodeList(c.Scopes), fmtTime(c.CreatedAt), fmtTime(c.UpdatedAt))
	return wrapErr(fmt.Sprintf("save consent for client %q", c.ClientID), err)
}

// DeleteConsent removes the user's consent for a client; store.ErrNotFound if absent.
func (s *Store) DeleteConsent(ctx context.Context, provider, userID, clientID string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM consents WHERE provider = ? AND user_id = ? AND client_id = ?`,
		provider, userID, clientID)
	return wrapErr("delete consent", oneRow(res, err))
}

// GetAuthCode returns a code by id (digest), used or not; store.ErrNotFound if absent.
func (s *Store) GetAuthCode(ctx context.Context, id string) (*store.AuthCode, error) {
	c, err := scanCode(s.r.QueryRowContext(ctx, `SELECT `+codeCols+` FROM auth_codes WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr("get authorization code", err)
	}
	return c, nil
}

// ExchangeAuthCode marks the code used, records the access token on it and stores the
// tokens, in one transaction. The conditional UPDATE ... WHERE revoked = 0 decides the
// race between two exchanges: the loser changes nothing and gets store.ErrAlreadyUsed.
func (s *Store) ExchangeAuthCode(ctx context.Context, codeID string, at *store.AccessToken, refresh *store.RefreshToken) error {
	store.PrepareTokenPair(at, refresh)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := markUsed(ctx, tx, "auth_codes", codeID, `UPDATE auth_codes SET revoked = 1, access_token_id = ?
			WHERE id = ? AND revoked = 0`, at.ID, codeID); err != nil {
			return err
		}
		return s.insertPair(ctx, tx, at, refresh)
	})
	return wrapErr("exchange authorization code", err)
}

// RevokeAuthCodeTokens revokes the access token the code was exchanged for and the whole
// refresh family issued with it, in one transaction.
func (s *Store) RevokeAuthCodeTokens(ctx context.Context, codeID string) error {
	// Logged like every revocation, so guards following the feed refuse these tokens too.
	_, err := s.revokeTx(ctx, func(tx *sql.Tx) ([]revokedToken, error) {
		var atID string
		err := tx.QueryRowContext(ctx, `SELECT access_token_id FROM auth_codes WHERE id = ?`, codeID).Scan(&atID)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && atID == "") {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		families := `SELECT family_id FROM refresh_tokens WHERE access_token_id = ?`
		revoked, err := scanRevoked(tx.QueryContext(ctx, `UPDATE access_tokens SET revoked = 1
			WHERE revoked = 0 AND (id = ? OR id IN
				(SELECT access_token_id FROM refresh_tokens WHERE family_id IN (`+families+`)))
			RETURNING id, expires_at`, atID, atID))
		if err != nil {
			return nil, err
		}
		_, err = tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked = 1 WHERE family_id IN (`+families+`)`, atID)
		return revoked, err
	})
	return wrapErr("revoke tokens of authorization code", err)
}
