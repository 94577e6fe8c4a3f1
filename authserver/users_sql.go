package authserver

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/caddyoauth/caddy-oauth/appdb"
	"github.com/caddyoauth/caddy-oauth/passwords"
)

// DefaultUserQuery finds a user of a Laravel application's users table by email. $1 is
// the username typed at login; on MySQL/MariaDB and SQLite it becomes ? (appdb.Rebind).
const DefaultUserQuery = "SELECT id, password FROM users WHERE email = $1"

// laravelHashShape is what a Laravel application's hashes look like (bcrypt, cost 10):
// the decoy uses it until the first real user is seen.
const laravelHashShape = "$2y$10$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi"

// userQueryTimeout bounds one lookup, so a slow application database fails a login
// rather than holding the request.
const userQueryTimeout = 5 * time.Second

// SQLUsers authenticates against an existing application's user table (`users sql`):
// Query finds the user by username and returns its id and password hash, bcrypt ($2y$,
// $2a$, $2b$), argon2id or argon2i as Laravel writes them. The table is only read.
type SQLUsers struct {
	db    *sql.DB
	query string // in the driver's placeholder form
	order []int  // which argument each "?" of query stands for (appdb.Rebind)
	decoy *passwords.Decoy
	// claimsQuery and claimsOrder describe a user for OpenID Connect (users_sql_claims.go);
	// empty: no claims beyond sub.
	claimsQuery string
	claimsOrder []int
}

// NewSQLUsers returns a provider reading db, opened by appdb.Open (OpenUserDB), with
// query (DefaultUserQuery when empty). The query must take the username as its one
// parameter and return two columns, the id and the hash. It is written with $1 on every
// driver (MySQL/MariaDB and SQLite get ?; a query already written with ? is kept). It is
// prepared once to fail early on a missing table or column.
func NewSQLUsers(ctx context.Context, db *sql.DB, query string) (*SQLUsers, error) {
	if query == "" {
		query = DefaultUserQuery
	}
	query, order := appdb.Rebind(appdb.DriverOf(db), query)
	stmt, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("preparing the user query: %w", err)
	}
	_ = stmt.Close()
	return &SQLUsers{db: db, query: query, order: order, decoy: passwords.NewDecoy(laravelHashShape)}, nil
}

// Authenticate runs the query for username and verifies the password against the hash it
// returns. An unknown user, a user without a usable hash and a query that matches several
// users all fail like a wrong password, after the same work.
func (p *SQLUsers) Authenticate(ctx context.Context, username, password string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, userQueryTimeout)
	defer cancel()
	rows, err := p.db.QueryContext(ctx, p.query, appdb.Args(p.order, username)...)
	if err != nil {
		return "", fmt.Errorf("user query: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", fmt.Errorf("user query: %w", err)
		}
		p.decoy.Spend(password)
		return "", ErrInvalidCredentials
	}
	var id any
	var hash sql.NullString
	if err := rows.Scan(&id, &hash); err != nil {
		return "", fmt.Errorf("user query must return two columns, the id and the password hash: %w", err)
	}
	if rows.Next() {
		// An ambiguous username must not log in as whichever row came first.
		p.decoy.Spend(password)
		return "", ErrInvalidCredentials
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("user query: %w", err)
	}
	userID, err := formatUserID(id)
	if err != nil {
		return "", err
	}
	if !checkPassword(p.decoy, hash.String, password) {
		return "", ErrInvalidCredentials
	}
	return userID, nil
}

// formatUserID turns the id column's value into the token's sub: integers in decimal,
// UUIDs in their canonical form, text as is.
func formatUserID(v any) (string, error) {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10), nil
	case string:
		if x != "" {
			return x, nil
		}
	case []byte:
		if len(x) == 16 {
			return uuid.UUID(x).String(), nil
		}
		if len(x) > 0 {
			return string(x), nil
		}
	case [16]byte:
		return uuid.UUID(x).String(), nil
	}
	return "", fmt.Errorf("user query returned an id of type %T that is empty or not an integer, text or UUID", v)
}

// OpenUserDB opens an application database for reading users (see appdb.Open).
func OpenUserDB(driver, dsn string) (*sql.DB, error) { return appdb.Open(driver, dsn) }
