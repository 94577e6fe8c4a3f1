package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/caddyoauth/caddy-oauth/store"
)

const clientCols = `id, name, secret_hash, redirect_uris, grants, provider, user_id,
	first_party, introspect, declarative, declared_by, revoked, created_at, updated_at,
	post_logout_redirect_uris, token_auth_method, jwks, jwks_uri, require_par,
	require_dpop, cert_bound_tokens, tls_client_auth_attribute, tls_client_auth_value`

func clientArgs(c *store.Client) []any {
	return []any{c.ID, c.Name, c.SecretHash, encodeList(c.RedirectURIs), encodeList(c.Grants),
		c.Provider, c.UserID, c.FirstParty, c.Introspect, c.Declarative, c.DeclaredBy, c.Revoked,
		fmtTime(c.CreatedAt), fmtTime(c.UpdatedAt), encodeList(c.PostLogoutRedirectURIs),
		c.TokenAuthMethod, c.JWKS, c.JWKSURI, c.RequirePAR,
		c.RequireDPoP, c.CertBoundTokens, c.TLSClientAuthAttribute, c.TLSClientAuthValue}
}

func scanClient(sc scanner) (*store.Client, error) {
	var c store.Client
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, listCol{&c.RedirectURIs}, listCol{&c.Grants}, &c.Provider, &c.UserID,
		&c.FirstParty, &c.Introspect, &c.Declarative, &c.DeclaredBy, &c.Revoked, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt},
		listCol{&c.PostLogoutRedirectURIs}, &c.TokenAuthMethod, &c.JWKS, &c.JWKSURI, &c.RequirePAR,
		&c.RequireDPoP, &c.CertBoundTokens, &c.TLSClientAuthAttribute, &c.TLSClientAuthValue); err != nil {
		return nil, err
	}
	return &c, nil
}

// CreateClient inserts a new client; store.ErrConflict if the id exists.
func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	store.PrepareClient(c)
	_, err := s.w.ExecContext(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, clientArgs(c)...)
	return wrapErr(fmt.Sprintf("create client %q", c.ID), err)
}

// UpsertClient inserts or replaces a client by id. A replaced client keeps its original
// CreatedAt, so that declarative clients, upserted on every start, keep their place in
// ListClients; c.CreatedAt is set to the stored value.
func (s *Store) UpsertClient(ctx context.Context, c *store.Client) error {
	store.PrepareClient(c)
	var created string
	err := s.w.QueryRowContext(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
		RETURNING created_at`, clientArgs(c)...).Scan(&created)
	if err != nil {
		return wrapErr(fmt.Sprintf("upsert client %q", c.ID), err)
	}
	t, err := parseTime(created)
	if err != nil {
		return wrapErr(fmt.Sprintf("upsert client %q", c.ID), err)
	}
	c.CreatedAt = t
	return nil
}

// GetClient returns a client by id, revoked or not; store.ErrNotFound if absent.
func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c, err := scanClient(s.r.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get client %q", id), err)
	}
	return c, nil
}

// ListClients lists all clients ordered by creation time (then id).
func (s *Store) ListClients(ctx context.Context) ([]*store.Client, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+clientCols+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, wrapErr("list clients", err)
	}
	defer rows.Close()
	var out []*store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, wrapErr("list clients", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("list clients", err)
	}
	return out, nil
}

// UpdateClientSecretHash replaces the stored secret hash; store.ErrNotFound if the client
// is absent.
func (s *Store) UpdateClientSecretHash(ctx context.Context, id, secretHash string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE clients SET secret_hash = ?, updated_at = ? WHERE id = ?`,
		secretHash, fmtTime(store.Now()), id)
	return wrapErr(fmt.Sprintf("update secret of client %q", id), oneRow(res, err))
}

// oneRow turns "no row changed" into store.ErrNotFound.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := rowsAffected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

const userCols = `id, email, password_hash, created_at`

func scanUser(sc scanner) (*store.User, error) {
	var u store.User
	if err := sc.Scan(&u.ID, &u.Email, &u.PasswordHash, timeCol{&u.CreatedAt}); err != nil {
		return nil, err
	}
	return &u, nil
}

// emailKey is the case-folded email the unique index is on. Folding in Go rather than
// with COLLATE NOCASE or lower(), which fold ASCII only, folds non-ASCII letters too and
// makes both drivers agree.
func emailKey(email string) string { return strings.ToLower(email) }

// CreateUser inserts a user; store.ErrConflict if the id or the email (compared
// case-insensitively) exists.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	store.FillTime(&u.CreatedAt)
	_, err := s.w.ExecContext(ctx, `INSERT INTO users (id, email, email_key, password_hash, created_at)
		VALUES (?, ?, ?, ?, ?)`, u.ID, u.Email, emailKey(u.Email), u.PasswordHash, fmtTime(u.CreatedAt))
	return wrapErr(fmt.Sprintf("create user %q", u.ID), err)
}

// GetUser returns a user by id; store.ErrNotFound if absent.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("get user %q", id), err)
	}
	return u, nil
}

// GetUserByEmail returns a user by email, compared case-insensitively;
// store.ErrNotFound if absent.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email_key = ?`, emailKey(email)))
	if err != nil {
		return nil, wrapErr("get user by email", err)
	}
	return u, nil
}

// ListUsers lists users ordered by creation time (then id).
func (s *Store) ListUsers(ctx context.Context) ([]*store.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, wrapErr("list users", err)
	}
	defer rows.Close()
	var out []*store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrapErr("list users", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("list users", err)
	}
	return out, nil
}

// DeleteUser removes a user and revokes nothing else; store.ErrNotFound if absent.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	return wrapErr(fmt.Sprintf("delete user %q", id), oneRow(res, err))
}
