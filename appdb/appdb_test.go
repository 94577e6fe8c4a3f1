package appdb

import (
	"database/sql"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

func TestRebindTurnsDollarPlaceholdersIntoTheDriversForm(t *testing.T) {
	for _, c := range []struct {
		driver, in, want string
		order            []int
	}{
		{Postgres, "SELECT id FROM users WHERE email = $1", "SELECT id FROM users WHERE email = $1", nil},
		{MySQL, "SELECT id FROM users WHERE email = $1", "SELECT id FROM users WHERE email = ?", []int{1}},
		{SQLite, "SELECT a FROM t WHERE x = $2 AND y = $1 OR z = $1", "SELECT a FROM t WHERE x = ? AND y = ? OR z = ?", []int{2, 1, 1}},
		{MySQL, "SELECT '$1', `$2`, \"$3\" FROM t WHERE a = $10", "SELECT '$1', `$2`, \"$3\" FROM t WHERE a = ?", []int{10}},
		{MySQL, "SELECT price$ FROM t WHERE a = $0", "SELECT price$ FROM t WHERE a = $0", nil},
		// MySQL's backslash escapes: the quote after it does not end the string.
		{MySQL, `SELECT 'it\'s $1' FROM t WHERE a = $2`, `SELECT 'it\'s $1' FROM t WHERE a = ?`, []int{2}},
		{MySQL, `SELECT "a\"$1" FROM t WHERE a = $1`, `SELECT "a\"$1" FROM t WHERE a = ?`, []int{1}},
		// SQLite has no backslash escapes: the string ends at the second quote.
		{SQLite, `SELECT 'a\' FROM t WHERE a = $1`, `SELECT 'a\' FROM t WHERE a = ?`, []int{1}},
		// Doubled quotes stay inside the string.
		{SQLite, `SELECT 'it''s $1' FROM t WHERE a = $1`, `SELECT 'it''s $1' FROM t WHERE a = ?`, []int{1}},
		// Comments are copied as they are.
		{MySQL, "SELECT id -- the $1 of it\nFROM t WHERE a = $1 # or $2\n AND b = $2", "SELECT id -- the $1 of it\nFROM t WHERE a = ? # or $2\n AND b = ?", []int{1, 2}},
		{SQLite, "SELECT /* $1 */ id FROM t WHERE a = $1 /* $2 */", "SELECT /* $1 */ id FROM t WHERE a = ? /* $2 */", []int{1}},
		{SQLite, "SELECT id FROM t WHERE a = $1 # $2", "SELECT id FROM t WHERE a = ? # ?", []int{1, 2}},
	} {
		got, order := Rebind(c.driver, c.in)
		if got != c.want || !reflect.DeepEqual(order, c.order) {
			t.Errorf("%s %q: got %q %v, want %q %v", c.driver, c.in, got, order, c.want, c.order)
		}
	}
	if got := Args([]int{2, 1, 1}, "a", "b"); !reflect.DeepEqual(got, []any{"b", "a", "a"}) {
		t.Errorf("Args: %v", got)
	}
}

func TestMySQLConfigReadsBothDSNForms(t *testing.T) {
	for dsn, want := range map[string]string{
		"mysql://laravel:s3cret@db.internal:3307/app?charset=utf8mb4": "laravel|s3cret|db.internal:3307|app",
		"mysql://laravel@db.internal/app":                             "laravel||db.internal:3306|app",
		"laravel:s3cret@tcp(db.internal:3307)/app":                    "laravel|s3cret|db.internal:3307|app",
	} {
		cfg, err := MySQLConfig(dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		got := strings.Join([]string{cfg.User, cfg.Passwd, cfg.Addr, cfg.DBName}, "|")
		if got != want || !cfg.ParseTime || cfg.Loc != time.UTC {
			t.Errorf("%s: %s parseTime %v loc %v", dsn, got, cfg.ParseTime, cfg.Loc)
		}
	}
	for _, bad := range []string{"mysql://host", "not a dsn at all(", "mysql://%zz"} {
		if _, err := MySQLConfig(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error shows the DSN: %v", err)
		}
	}
}

func TestOpenRefusesUnknownDriversAndEmptyDSNs(t *testing.T) {
	if _, err := Open("oracle", "x"); err == nil || !strings.Contains(err.Error(), "oracle") {
		t.Errorf("oracle: %v", err)
	}
	if _, err := Open(MySQL, ""); err == nil {
		t.Error("empty DSN accepted")
	}
	if _, err := Open(Postgres, "postgres://u:s3cret@%zz"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad postgres DSN: %v", err)
	}
}

// A real MariaDB: a Laravel-shaped users row is read back through a rebound query, in
// both DSN forms, times come back as UTC time.Time, and nothing can be written.
func TestOpenReadsMariaDB(t *testing.T) {
	dsn := testdb.MySQLDSN(t)
	cfg, _ := MySQLConfig(dsn)
	db, err := sql.Open("mysql", dsn) // the application's own, writable connection
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE users (id BIGINT UNSIGNED PRIMARY KEY, email VARCHAR(255) UNIQUE, password VARCHAR(255), created_at TIMESTAMP NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO users VALUES (7, 'ada@example.com', '$2y$10$abc', '2026-01-02 03:04:05')"); err != nil {
		t.Fatal(err)
	}
	url := "mysql://" + cfg.User + "@" + cfg.Addr + "/" + cfg.DBName
	for _, d := range []string{dsn, url} {
		db, err := Open(MySQL, d)
		if err != nil {
			t.Fatal(err)
		}
		q, order := Rebind(MySQL, "SELECT id, password, created_at FROM users WHERE email = $1")
		var id int64
		var hash string
		var created time.Time
		if err := db.QueryRow(q, Args(order, "ada@example.com")...).Scan(&id, &hash, &created); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if id != 7 || hash != "$2y$10$abc" || !created.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Fatalf("read %d %q %v", id, hash, created)
		}
		// Sessions are read-only: writing fails, whatever the credentials allow.
		for _, w := range []string{
			"UPDATE users SET password = 'x' WHERE id = 7",
			"INSERT INTO users (id, email) VALUES (8, 'eve@example.com')",
			"DELETE FROM users",
		} {
			if _, err := db.Exec(w); err == nil {
				t.Errorf("%s: a write succeeded", w)
			}
		}
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM users WHERE password = '$2y$10$abc'").Scan(&n); err != nil || n != 1 {
			t.Fatalf("the table changed: %d %v", n, err)
		}
		db.Close()
	}
}

// DriverOf names what Open opened, so a query handed only the *sql.DB is rebound right.
func TestDriverOfNamesWhatOpenOpened(t *testing.T) {
	for _, c := range []struct{ driver, dsn string }{
		{MySQL, "mysql://u@127.0.0.1:1/db"},
		{Postgres, "postgres://u@127.0.0.1:1/db"},
		{SQLite, t.TempDir() + "/app.db"},
	} {
		db, err := Open(c.driver, c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		if got := DriverOf(db); got != c.driver {
			t.Errorf("DriverOf(%s) = %q", c.driver, got)
		}
		db.Close()
	}
	if q, order := Rebind("", "SELECT 1 WHERE a = $1"); q != "SELECT 1 WHERE a = $1" || order != nil {
		t.Errorf("an unknown driver's query was changed: %q %v", q, order)
	}
}
