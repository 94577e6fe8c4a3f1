package drivers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		spec, driver, dsn string
	}{
		{"sqlite:/var/lib/caddy/oauth.db", "sqlite", "/var/lib/caddy/oauth.db"},
		{"sqlite:oauth.db", "sqlite", "oauth.db"},
		{"sqlite:C:/data/oauth.db", "sqlite", "C:/data/oauth.db"},
		{"sqlite3:oauth.db", "sqlite", "oauth.db"},
		{"postgres:host=db dbname=oauth", "postgres", "host=db dbname=oauth"},
		{"postgres:postgres://u:p@db/oauth?sslmode=disable", "postgres", "postgres://u:p@db/oauth?sslmode=disable"},
		{"postgresql:postgresql://db/oauth", "postgres", "postgresql://db/oauth"},
		{"postgres://u:p@db:5432/oauth?search_path=auth", "postgres", "postgres://u:p@db:5432/oauth?search_path=auth"},
		{"postgresql://db/oauth", "postgres", "postgresql://db/oauth"},
		{"POSTGRES:host=db", "postgres", "host=db"},
	} {
		driver, dsn, err := drivers.ParseSpec(tc.spec)
		if err != nil || driver != tc.driver || dsn != tc.dsn {
			t.Errorf("ParseSpec(%q) = %q, %q, %v; want %q, %q", tc.spec, driver, dsn, err, tc.driver, tc.dsn)
		}
	}
}

func TestParseSpecRejectsBadSpecsNamingTheBadPart(t *testing.T) {
	for _, tc := range []struct {
		spec, mention string
	}{
		{"", "empty"},
		{"/var/lib/oauth.db", `"/var/lib/oauth.db" has no driver`},
		{"mysql:user:secret@tcp(db)/oauth", `"mysql"`},
		{"sqlite:", "file path"},
		{"postgres:", "connection string"},
	} {
		_, _, err := drivers.ParseSpec(tc.spec)
		if err == nil {
			t.Errorf("ParseSpec(%q) succeeded", tc.spec)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("ParseSpec(%q) error %q does not mention %q", tc.spec, err, tc.mention)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseSpec(%q) error %q leaks the DSN", tc.spec, err)
		}
	}
}

func TestOpenUnknownDriverFails(t *testing.T) {
	_, err := drivers.Open(context.Background(), "mysql", "x")
	if err == nil || !strings.Contains(err.Error(), `"mysql"`) {
		t.Fatalf("Open(mysql) error %v, want one naming the driver", err)
	}
}

func TestOpenSQLite(t *testing.T) {
	s, err := drivers.Open(context.Background(), drivers.SQLite, testdb.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A read proves the store reaches its database.
	if _, err := s.ListSigningKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenPostgres(t *testing.T) {
	driver, dsn, err := drivers.ParseSpec(testdb.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := drivers.Open(context.Background(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ListSigningKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
}
