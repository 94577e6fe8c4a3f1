package testdb

import (
	"database/sql"
	"fmt"
	"os"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// DefaultMySQLDSN is the MariaDB/MySQL server tests use unless OAUTH_TEST_MYSQL names
// another (go-sql-driver/mysql DSN form). It stands for a Laravel application's database,
// which this project reads (users, Passport's tables) and never uses for its own store.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/test"

// MySQLEnv is the environment variable that overrides DefaultMySQLDSN.
const MySQLEnv = "OAUTH_TEST_MYSQL"

// MySQLDSN creates a uniquely named database, returns a DSN (go-sql-driver form, with
// parseTime=true) that selects it, and drops it when the test ends. Locally the test is
// skipped when the server is unreachable; under CI=true it fails instead.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(MySQLEnv)
	if base == "" {
		base = DefaultMySQLDSN
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("testdb: parse %s: %v", MySQLEnv, err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	defer admin.Close()
	if err := admin.Ping(); err != nil {
		unavailable(t, fmt.Errorf("connect to MariaDB/MySQL (set %s to use another server): %w", MySQLEnv, err))
		return ""
	}
	name := schemaName(t.Name())
	if _, err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Errorf("testdb: drop database %s: %v", name, err)
			return
		}
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS `" + name + "`"); err != nil {
			t.Errorf("testdb: drop database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	cfg.ParseTime = true
	return cfg.FormatDSN()
}
