package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
)

const clientCols = `id, name, secret_hash, redirect_uris, grants, provider, user_id,
	first_party, introspect, declarative, declared_by, revoked, created_at, updated_at,
	post_logout_redirect_uris, token_auth_method, jwks, jwks_uri, require_par,
	require_dpop, cert_bound_tokens, tls_client_auth_attribute, tls_client_auth_value`

func clientArgs(c *store.Client) []any {
	return []any{c.ID, c.Name, c.SecretHash, list(c.RedirectURIs), list(c.Grants),
		c.Provider, c.UserID, c.FirstParty, c.Introspect, c.Declarative, c.DeclaredBy, c.Revoked,
		c.CreatedAt, c.UpdatedAt, list(c.PostLogoutRedirectURIs),
		c.TokenAuthMethod, c.JWKS, c.JWKSURI, c.RequirePAR,
		c.RequireDPoP, c.CertBoundTokens, c.TLSClientAuthAttribute, c.TLSClientAuthValue}
}

func scanClient(row pgx.Row) (*store.Client, error) {
	var c store.Client
	if err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.RedirectURIs, &c.Grants, &c.Provider,
		&c.UserID, &c.FirstParty, &c.Introspect, &c.Declarative, &c.DeclaredBy, &c.Revoked, &c.CreatedAt,
		&c.UpdatedAt, &c.PostLogoutRedirectURIs, &c.TokenAuthMethod, &c.JWKS, &c.JWKSURI, &c.RequirePAR,
		&c.RequireDPoP, &c.CertBoundTokens, &c.TLSClientAuthAttribute, &c.TLSClientAuthValue); err != nil {
		return nil, err
	}
	c.RedirectURIs, c.Grants = readList(c.RedirectURIs), readList(c.Grants)
	c.PostLogoutRedirectURIs = readList(c.PostLogoutRedirectURIs)
	utc(&c.CreatedAt)
	utc(&c.UpdatedAt)
	return &c, nil
}

// CreateClient inserts a new client; store.ErrConflict if the id exists.
func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	store.PrepareClient(c)
	_, err := s.pool.Exec(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`, clientArgs(c)...)
	return wrapErr(fmt.Sprintf("create client %q", c.ID), err)
}

// UpsertClient inserts or replaces a client by id. A replaced client keeps its original
// CreatedAt, so that declarative clients, upserted on every start, keep their place in
// ListClients; c.CreatedAt is set to the stored value.
func (s *Store) UpsertClient(ctx context.Context, c *store.Client) error {
	store.PrepareClient(c)
	err := s.pool.QueryRow(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
		ON CONFLICT (id) DO UPDATE SET
			name = excluded.name, secret_hash = excluded.secret_hash,
			redirect_uris = excluded.redirect_uris, grants = excluded.grants,
			post_logout_redirect_uris = excluded.post_logout_redirect_uris,
			token_auth_method = excluded.token_auth_method, jwks = excluded.jwks,
			jwks_uri = excluded.jwks_uri, require_par = excluded.require_par,
			require_dpop = excluded.require_dpop, cert_bound_tokens = excluded.cert_bound_tokens,
			tls_client_auth_attribute = excluded.tls_client_auth_attribute,
			tls_client_auth_value = excluded.tls_client_auth_value,
			provider = excluded.provider, user_id = excluded.user_id,
			first_party = excluded.first_party, introspect = excluded.introspect,
			declarative = excluded.declarative, declared_by = excluded.declared_by, revoked = excluded.revoked,
			updated_at = excluded.updated_at
		RETURNING created_at`, clientArgs(c)...).Scan(&c.CreatedAt)
	utc(&c.CreatedAt)
	return wrapErr(fmt.Sprintf("upsert client %q", c.ID), err)
}

// GetClient returns a client by id, revoked or not; store.ErrNotFound if absent.
func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c, err := scanClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get client %q", id), notFound(err))
	}
	return c, nil
}

// ListClients lists all clients ordered by creation time (then id).
func (s *Store) ListClients(ctx context.Context) ([]*store.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, wrapErr("list clients", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Client, error) { return scanClient(r) })
	if err != nil {
		return nil, wrapErr("list clients", err)
	}
	return out, nil
}

// UpdateClientSecretHash replaces the stored secret hash; store.ErrNotFound if the client
// is absent.
func (s *Store) UpdateClientSecretHash(ctx context.Context, id, secretHash string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE clients SET secret_hash = $1, updated_at = $2 WHERE id = $3`,
		secretHash, store.Now(), id)
	return wrapErr(fmt.Sprintf("update secret of client %q", id), oneRow(tag, err))
}

const userCols = `id, email, password_hash, created_at`

func scanUser(row pgx.Row) (*store.User, error) {
	var u store.User
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.CreatedAt); err != nil {
		return nil, err
	}
	utc(&u.CreatedAt)
	return &u, nil
}

// emailKey is the case-folded email the unique index is on. Folding in Go rather than
// with lower(), whose folding depends on the database's ctype (ASCII only under C),
// makes both drivers agree.
func emailKey(email string) string { return strings.ToLower(email) }

// CreateUser inserts a user; store.ErrConflict if the id or the email (compared
// case-insensitively) exists.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	store.FillTime(&u.CreatedAt)
	_, err := s.pool.Exec(ctx, `INSERT INTO users (id, email, email_key, password_hash, created_at)
		VALUES ($1, $2, $3, $4, $5)`, u.ID, u.Email, emailKey(u.Email), u.PasswordHash, u.CreatedAt)
	return wrapErr(fmt.Sprintf("create user %q", u.ID), err)
}

// GetUser returns a user by id; store.ErrNotFound if absent.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get user %q", id), notFound(err))
	}
	return u, nil
}

// GetUserByEmail returns a user by email, compared case-insensitively;
// store.ErrNotFound if absent.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE email_key = $1`, emailKey(email)))
	if err != nil {
		return nil, wrapErr("get user by email", notFound(err))
	}
	return u, nil
}

// ListUsers lists users ordered by creation time (then id).
func (s *Store) ListUsers(ctx context.Context) ([]*store.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, wrapErr("list users", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.User, error) { return scanUser(r) })
	if err != nil {
		return nil, wrapErr("list users", err)
	}
	return out, nil
}

// DeleteUser removes a user and revokes nothing else; store.ErrNotFound if absent.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	return wrapErr(fmt.Sprintf("delete user %q", id), oneRow(tag, err))
}
