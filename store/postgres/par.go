package postgres

import (
	"context"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

const parCols = `id, client_id, params, used, created_at, expires_at`

// CreatePushedAuthorizationRequest inserts an unused pushed request; store.ErrConflict if
// the id exists, store.ErrNotFound if the client does not exist.
func (s *Store) CreatePushedAuthorizationRequest(ctx context.Context, p *store.PushedAuthorizationRequest) error {
	store.FillTime(&p.CreatedAt)
	_, err := s.pool.Exec(ctx, `INSERT INTO pushed_authorization_requests (`+parCols+`)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		p.ID, p.ClientID, p.Params, p.Used, p.CreatedAt, p.ExpiresAt)
	return wrapErr("create pushed authorization request", err)
}

// GetPushedAuthorizationRequest returns a pushed request by id (digest);
// store.ErrNotFound if absent.
func (s *Store) GetPushedAuthorizationRequest(ctx context.Context, id string) (*store.PushedAuthorizationRequest, error) {
	var p store.PushedAuthorizationRequest
	err := s.pool.QueryRow(ctx, `SELECT `+parCols+` FROM pushed_authorization_requests WHERE id = $1`, id).
		Scan(&p.ID, &p.ClientID, &p.Params, &p.Used, &p.CreatedAt, &p.ExpiresAt)
	if err != nil {
		return nil, wrapErr("get pushed authorization request", notFound(err))
	}
	utc(&p.CreatedAt)
	utc(&p.ExpiresAt)
	return &p, nil
}

// UsePushedAuthorizationRequest marks the client's unused, unexpired pushed request used
// in one conditional UPDATE: a second use waits on the first's row lock, then finds it
// used and changes nothing. It also reports whether the client's request exists, to
// tell store.ErrAlreadyUsed from store.ErrNotFound (another client's request counts as
// missing).
func (s *Store) UsePushedAuthorizationRequest(ctx context.Context, id, clientID string, now time.Time) error {
	var used, exists bool
	err := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE pushed_authorization_requests SET used = true
			WHERE id = $1 AND client_id = $2 AND NOT used AND expires_at > $3 RETURNING id
		)
		SELECT EXISTS (SELECT 1 FROM u),
			EXISTS (SELECT 1 FROM pushed_authorization_requests WHERE id = $1 AND client_id = $2)`,
		id, clientID, now).Scan(&used, &exists)
	err = usedOrMissing(err, used, exists)
	return wrapErr("use pushed authorization request", notFound(err))
}
