package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

const parCols = `id, client_id, params, used, created_at, expires_at`

// CreatePushedAuthorizationRequest inserts an unused pushed request; store.ErrConflict if
// the id exists, store.ErrNotFound if the client does not exist.
func (s *Store) CreatePushedAuthorizationRequest(ctx context.Context, p *store.PushedAuthorizationRequest) error {
	store.FillTime(&p.CreatedAt)
	_, err := s.w.ExecContext(ctx, `INSERT INTO pushed_authorization_requests (`+parCols+`)
		VALUES (?, ?, ?, ?, ?, ?)`,
		p.ID, p.ClientID, p.Params, p.Used, fmtTime(p.CreatedAt), fmtTime(p.ExpiresAt))
	return wrapErr("create pushed authorization request", err)
}

// GetPushedAuthorizationRequest returns a pushed request by id (digest);
// store.ErrNotFound if absent.
func (s *Store) GetPushedAuthorizationRequest(ctx context.Context, id string) (*store.PushedAuthorizationRequest, error) {
	var p store.PushedAuthorizationRequest
	err := s.r.QueryRowContext(ctx, `SELECT `+parCols+` FROM pushed_authorization_requests WHERE id = ?`, id).
		Scan(&p.ID, &p.ClientID, &p.Params, &p.Used, timeCol{&p.CreatedAt}, timeCol{&p.ExpiresAt})
	if err != nil {
		return nil, wrapErr("get pushed authorization request", err)
	}
	return &p, nil
}

// UsePushedAuthorizationRequest marks the client's unused, unexpired pushed request
// used. The conditional UPDATE, in a write transaction, decides between two uses: the
// second changes nothing and gets store.ErrAlreadyUsed.
func (s *Store) UsePushedAuthorizationRequest(ctx context.Context, id, clientID string, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE pushed_authorization_requests SET used = 1
			WHERE id = ? AND client_id = ? AND NOT used AND expires_at > ?`, id, clientID, fmtTime(now))
		if err != nil {
			return err
		}
		n, err := rowsAffected(res)
		if err != nil || n > 0 {
			return err
		}
		// Another client's request is as unknown as a missing one.
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pushed_authorization_requests
			WHERE id = ? AND client_id = ?)`, id, clientID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return store.ErrAlreadyUsed
		}
		return store.ErrNotFound
	})
	return wrapErr("use pushed authorization request", err)
}
