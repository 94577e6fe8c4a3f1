// Package laravel builds, for tests and benchmarks, what a running Laravel Passport
// application has: the tables Laravel's default migrations and Passport 10.x create, in
// MySQL/MariaDB, PostgreSQL or SQLite, and access tokens minted byte for byte as
// league/oauth2-server (through lcobucci/jwt) mints them. Production code never imports it.
package laravel

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Dialects of CreateSchema, named as appdb names its drivers.
const (
	MySQL    = "mysql"
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// schema is Laravel's users table and Passport 10.x's tables, in MySQL's words; CreateSchema
// translates the few types that differ. Column types follow the migrations: bigIncrements,
// unsignedBigInteger, string(100) token ids, boolean revoked flags, nullable dateTime
// expiries, timestamps().
var schema = []string{
	`CREATE TABLE users (
		id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
		name VARCHAR(255) NOT NULL,
		email VARCHAR(255) NOT NULL UNIQUE,
		email_verified_at TIMESTAMP NULL,
		password VARCHAR(255) NOT NULL,
		remember_token VARCHAR(100) NULL,
		created_at TIMESTAMP NULL,
		updated_at TIMESTAMP NULL
	)`,
	`CREATE TABLE oauth_auth_codes (
		id VARCHAR(100) PRIMARY KEY,
		user_id BIGINT UNSIGNED NOT NULL,
		client_id BIGINT UNSIGNED NOT NULL,
		scopes TEXT NULL,
		revoked BOOLEAN NOT NULL,
		expires_at DATETIME NULL
	)`,
	`CREATE INDEX oauth_auth_codes_user_id_index ON oauth_auth_codes (user_id)`,
	`CREATE TABLE oauth_access_tokens (
		id VARCHAR(100) PRIMARY KEY,
		user_id BIGINT UNSIGNED NULL,
		client_id BIGINT UNSIGNED NOT NULL,
		name VARCHAR(255) NULL,
		scopes TEXT NULL,
		revoked BOOLEAN NOT NULL,
		created_at TIMESTAMP NULL,
		updated_at TIMESTAMP NULL,
		expires_at DATETIME NULL
	)`,
	`CREATE INDEX oauth_access_tokens_user_id_index ON oauth_access_tokens (user_id)`,
	`CREATE TABLE oauth_refresh_tokens (
		id VARCHAR(100) PRIMARY KEY,
		access_token_id VARCHAR(100) NOT NULL,
		revoked BOOLEAN NOT NULL,
		expires_at DATETIME NULL
	)`,
	`CREATE INDEX oauth_refresh_tokens_access_token_id_index ON oauth_refresh_tokens (access_token_id)`,
	`CREATE TABLE oauth_clients (
		id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
		user_id BIGINT UNSIGNED NULL,
		name VARCHAR(255) NOT NULL,
		secret VARCHAR(100) NULL,
		provider VARCHAR(255) NULL,
		redirect TEXT NOT NULL,
		personal_access_client BOOLEAN NOT NULL,
		password_client BOOLEAN NOT NULL,
		revoked BOOLEAN NOT NULL,
		created_at TIMESTAMP NULL,
		updated_at TIMESTAMP NULL
	)`,
	`CREATE INDEX oauth_clients_user_id_index ON oauth_clients (user_id)`,
	`CREATE TABLE oauth_personal_access_clients (
		id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
		client_id BIGINT UNSIGNED NOT NULL,
		created_at TIMESTAMP NULL,
		updated_at TIMESTAMP NULL
	)`,
}

// CreateSchema creates Laravel's users table and Passport's tables in db.
func CreateSchema(ctx context.Context, db *sql.DB, dialect string) error {
	for _, stmt := range schema {
		if _, err := db.ExecContext(ctx, translate(stmt, dialect)); err != nil {
			return fmt.Errorf("laravel schema (%s): %w\n%s", dialect, err, stmt)
		}
	}
	return nil
}

// translate turns the MySQL DDL into the dialect's: Laravel's grammar makes
// bigIncrements BIGSERIAL on PostgreSQL and INTEGER PRIMARY KEY AUTOINCREMENT on SQLite,
// booleans are BOOLEAN / tinyint(1) alike, and PostgreSQL has no UNSIGNED or DATETIME.
func translate(stmt, dialect string) string {
	switch dialect {
	case Postgres:
		stmt = strings.ReplaceAll(stmt, "BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY", "BIGSERIAL PRIMARY KEY")
		stmt = strings.ReplaceAll(stmt, "BIGINT UNSIGNED", "BIGINT")
		stmt = strings.ReplaceAll(stmt, "DATETIME", "TIMESTAMP(0) WITHOUT TIME ZONE")
	case SQLite:
		stmt = strings.ReplaceAll(stmt, "BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")
		stmt = strings.ReplaceAll(stmt, "BIGINT UNSIGNED", "INTEGER")
	}
	return stmt
}

// Placeholders rewrites a query written with ? placeholders for the dialect ($1, $2 on
// PostgreSQL), for tests that insert rows.
func Placeholders(dialect, query string) string {
	if dialect != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
