package authserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/caddyoauth/caddy-oauth/appdb"
	"github.com/caddyoauth/caddy-oauth/store"
)

// DefaultUsernameQuery names a user of a Laravel application's users table from its id:
// what DefaultUserQuery finds a user by, read the other way.
const DefaultUsernameQuery = "SELECT email FROM users WHERE id = $1"

// NamedSQLUsers is a `users sql` provider that can also name a user from its id, through
// a second query. That makes the server notice users deleted from the application's
// table: their refresh tokens and pending codes stop working (the refresh and code
// grants ask before every issue), no personal token is issued to them, and introspection
// answers each user's username (RFC 7662 `username`).
type NamedSQLUsers struct {
	*SQLUsers
	nameQuery string
	nameOrder []int
}

// WithUsernames adds the query that names a user from its id ($1, the id the token
// carries as sub; one column, the username). It is prepared once to fail early.
func (p *SQLUsers) WithUsernames(ctx context.Context, query string) (*NamedSQLUsers, error) {
	q, order := appdb.Rebind(appdb.DriverOf(p.db), query)
	stmt, err := p.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("preparing the username query: %w", err)
	}
	_ = stmt.Close()
	return &NamedSQLUsers{SQLUsers: p, nameQuery: q, nameOrder: order}, nil
}

// Username returns the username of the user with the id, store.ErrNotFound when the
// table has no such user (or several: an id must name one user).
func (p *NamedSQLUsers) Username(ctx context.Context, userID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, userQueryTimeout)
	defer cancel()
	rows, err := p.db.QueryContext(ctx, p.nameQuery, appdb.Args(p.nameOrder, userID)...)
	if err != nil {
		return "", fmt.Errorf("username query: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", fmt.Errorf("username query: %w", err)
		}
		return "", store.ErrNotFound
	}
	var name sql.NullString
	if err := rows.Scan(&name); err != nil {
		return "", fmt.Errorf("username query must return one column, the username: %w", err)
	}
	if rows.Next() {
		return "", store.ErrNotFound
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("username query: %w", err)
	}
	return name.String, nil
}

// UserExists reports whether the table still has the user.
func (p *NamedSQLUsers) UserExists(ctx context.Context, userID string) (bool, error) {
	_, err := p.Username(ctx, userID)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}

// Interface guards: the server asks these of providers that support them.
var (
	_ UsernameResolver = (*NamedSQLUsers)(nil)
	_ UserLookup       = (*NamedSQLUsers)(nil)
	_ UserProvider     = (*NamedSQLUsers)(nil)
)
