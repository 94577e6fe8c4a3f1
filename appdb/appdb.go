// Package appdb opens an existing application's database, such as a Laravel
// application's, for the parts of this project that read one: `users sql`, the guard's
// following of Passport's revoked tokens, and `caddy oauth import passport`. It never
// holds this project's own state (that is package store).
//
// Drivers: "mysql" (MySQL and MariaDB, where most Laravel applications live), "postgres"
// and "sqlite". Queries are written with PostgreSQL's $1, $2 placeholders; Rebind turns
// them into the driver's own.
package appdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
)

// Driver names accepted by Open.
const (
	MySQL    = "mysql"
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Open opens an application database for reading:
//   - "mysql": dsn a mysql://user:pass@host:port/db URL or go-sql-driver's own form
//     (user:pass@tcp(host:port)/db); times are parsed into time.Time; sessions are
//     read-only;
//   - "postgres": a postgres:// URL or keyword/value string; sessions are read-only;
//   - "sqlite": a file path, opened read-only.
//
// Errors name the driver and the problem, never the DSN, which may hold a password.
func Open(driver, dsn string) (*sql.DB, error) {
	if dsn == "" {
		return nil, fmt.Errorf("%s: a data source is required", driver)
	}
	switch driver {
	case MySQL:
		cfg, err := MySQLConfig(dsn)
		if err != nil {
			return nil, err
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("mysql: %w", err)
		}
		db := sql.OpenDB(readOnlyConnector{conn})
		db.SetMaxOpenConns(8)
		db.SetConnMaxIdleTime(5 * time.Minute)
		// MySQL closes idle connections after wait_timeout; do not hand out dead ones.
		db.SetConnMaxLifetime(30 * time.Minute)
		return db, nil
	case Postgres:
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, errors.New("postgres: the connection string does not parse")
		}
		if cfg.RuntimeParams == nil {
			cfg.RuntimeParams = map[string]string{}
		}
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
		db := stdlib.OpenDB(*cfg)
		db.SetMaxOpenConns(8)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return db, nil
	case SQLite:
		q := url.Values{}
		q.Add("mode", "ro")
		q.Add("_pragma", "busy_timeout(5000)")
		q.Add("_pragma", "query_only(1)")
		abs, err := filepath.Abs(dsn)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		db.SetMaxOpenConns(4)
		return db, nil
	}
	return nil, fmt.Errorf("unknown database driver %q (want mysql, postgres or sqlite)", driver)
}

// readOnlyConnector starts every MySQL/MariaDB session read-only, as Open makes
// PostgreSQL sessions and SQLite files: nothing that reads an application's database
// through Open (a users query, whatever an operator writes in it) can change its tables,
// even with credentials that could.
type readOnlyConnector struct{ driver.Connector }

// Connect opens a session and makes it read-only before handing it out.
func (c readOnlyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("mysql: the driver's connection cannot run statements")
	}
	// Understood alike by MySQL 5.6+ and MariaDB 10+ (the session variable's name is not).
	if _, err := ex.ExecContext(ctx, "SET SESSION TRANSACTION READ ONLY", nil); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("mysql: making the session read-only: %w", err)
	}
	return conn, nil
}

// MySQLConfig reads a MySQL/MariaDB DSN in either form: a mysql:// URL (as Laravel's
// DATABASE_URL and most hosting panels write it) or go-sql-driver's own. The result
// parses DATETIME and TIMESTAMP columns into time.Time, in UTC (Laravel's default
// timezone).
func MySQLConfig(dsn string) (*mysql.Config, error) {
	var cfg *mysql.Config
	if strings.HasPrefix(dsn, "mysql://") || strings.HasPrefix(dsn, "mariadb://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, errors.New("mysql: the URL does not parse")
		}
		cfg = mysql.NewConfig()
		cfg.Net, cfg.Addr = "tcp", u.Host
		if u.Port() == "" {
			cfg.Addr = u.Host + ":3306"
		}
		if u.User != nil {
			cfg.User = u.User.Username()
			cfg.Passwd, _ = u.User.Password()
		}
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
		for k, v := range u.Query() {
			if len(v) > 0 {
				if cfg.Params == nil {
					cfg.Params = map[string]string{}
				}
				cfg.Params[k] = v[0]
			}
		}
	} else {
		var err error
		if cfg, err = mysql.ParseDSN(dsn); err != nil {
			return nil, errors.New("mysql: the DSN does not parse (want mysql://user:pass@host:port/db or user:pass@tcp(host:port)/db)")
		}
	}
	if cfg.DBName == "" {
		return nil, errors.New("mysql: the DSN names no database")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	return cfg, nil
}

// DriverOf names the driver of a database opened by Open (MySQL, Postgres or SQLite), so
// code handed only the *sql.DB can Rebind its queries; "" for any other driver.
func DriverOf(db *sql.DB) string {
	switch db.Driver().(type) {
	case *mysql.MySQLDriver, mysql.MySQLDriver:
		return MySQL
	case *stdlib.Driver:
		return Postgres
	case *sqlite.Driver:
		return SQLite
	}
	return ""
}

// Rebind turns a query written with $1, $2 ... placeholders into the driver's form: "?"
// for MySQL and SQLite (each $n in the order it appears), unchanged for PostgreSQL and
// any other driver. A placeholder inside a quoted string or identifier, or a comment
// (-- to the line's end, /* ... */, and MySQL's #), is left alone; in MySQL's strings a
// backslash escapes the next character ('it\'s $1' is one string). For "?" drivers the
// returned order lists, for each "?", the 1-based argument it stands for, so a query that
// uses $1 twice gets its argument twice (see Args).
func Rebind(driver, query string) (string, []int) {
	if driver != MySQL && driver != SQLite {
		return query, nil
	}
	var b strings.Builder
	var order []int
	var quote byte
	// comment is the text that ends the comment being copied ("\n" or "*/"); "" outside one.
	comment := ""
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case comment != "":
			if strings.HasPrefix(query[i:], comment) {
				b.WriteString(comment)
				i += len(comment) - 1
				comment = ""
				continue
			}
		case quote != 0:
			switch {
			case c == '\\' && driver == MySQL && quote != '`' && i+1 < len(query):
				b.WriteByte(c)
				i++
				c = query[i]
			case c == quote:
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case strings.HasPrefix(query[i:], "--") || (c == '#' && driver == MySQL):
			comment = "\n"
		case strings.HasPrefix(query[i:], "/*"):
			b.WriteString("/*")
			i++
			comment = "*/"
			continue
		case c == '$' && i+1 < len(query) && query[i+1] >= '1' && query[i+1] <= '9':
			n := 0
			j := i + 1
			for ; j < len(query) && query[j] >= '0' && query[j] <= '9'; j++ {
				n = n*10 + int(query[j]-'0')
			}
			b.WriteByte('?')
			order = append(order, n)
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), order
}

// Args arranges args ($1 first) in the order Rebind returned; nil order keeps them.
func Args(order []int, args ...any) []any {
	if order == nil {
		return args
	}
	out := make([]any, len(order))
	for i, n := range order {
		if n-1 < len(args) {
			out[i] = args[n-1]
		}
	}
	return out
}
