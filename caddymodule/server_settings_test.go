package caddymodule

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/keys"
)

// An empty configuration means the documented defaults, and the default SQLite file is
// the same whether storage is left out or names sqlite without a file.
func TestServerSettingsDefaults(t *testing.T) {
	want := filepath.Join(caddy.AppDataDir(), "oauth", "oauth.db")
	for _, s := range []*Server{{}, {Storage: &StorageConfig{Driver: "sqlite"}}} {
		set, err := s.settings(caddy.NewReplacer(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if set.storage != (storageLocation{"sqlite", want}) {
			t.Errorf("storage %+v, want sqlite at %s", set.storage, want)
		}
		if set.signingAlg != keys.ES256 || set.accessTTL != time.Hour || set.refreshTTL != 720*time.Hour ||
			set.personalTTL != 8760*time.Hour || set.sessionTTL != 2*time.Hour || set.purgeInterval != 0 ||
			set.keyRetention != 8760*time.Hour {
			t.Errorf("defaults %+v", set)
		}
		if names := set.providerNames(); len(names) != 1 || names[0] != "users" || set.users[0].kind != "builtin" {
			t.Errorf("providers %v %+v", names, set.users)
		}
	}
}

// Placeholders resolve; a replacement storage (the command line's --storage) is taken as
// given and is what a sql provider without a database reads.
func TestServerSettingsResolvePlaceholdersAndTakeAStorageOverride(t *testing.T) {
	t.Setenv("SETTINGS_TEST_DSN", "/srv/a.db")
	t.Setenv("SETTINGS_TEST_ISSUER", "https://auth.example")
	s := &Server{Issuer: "{env.SETTINGS_TEST_ISSUER}", Storage: &StorageConfig{Driver: "sqlite", DSN: "{env.SETTINGS_TEST_DSN}"},
		Users: []UserProviderConfig{{Name: "app", Kind: "sql"}}}
	set, err := s.settings(caddy.NewReplacer(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if set.issuer != "https://auth.example" || set.storage.dsn != "/srv/a.db" || set.users[0].database != set.storage {
		t.Fatalf("resolved %+v", set)
	}
	set, err = s.settings(caddy.NewReplacer(), &StorageConfig{Driver: "postgres", DSN: "postgres://x/{env.SETTINGS_TEST_DSN}"})
	if err != nil {
		t.Fatal(err)
	}
	if set.storage != (storageLocation{"postgres", "postgres://x/{env.SETTINGS_TEST_DSN}"}) || set.users[0].database != set.storage {
		t.Fatalf("override %+v, provider reads %+v", set.storage, set.users[0].database)
	}
}

// Each option is refused in one place, naming it.
func TestServerSettingsRefuseNamingTheOption(t *testing.T) {
	for _, c := range []struct {
		s    Server
		want string
	}{
		{Server{SigningAlg: "HS256"}, `signing_alg "HS256": must be ES256, RS256 or EdDSA`},
		{Server{Storage: &StorageConfig{Driver: "mysql", DSN: "x"}}, `storage: driver "mysql": must be sqlite or postgres`},
		{Server{Storage: &StorageConfig{Driver: "postgres"}}, "storage postgres: a connection string is required"},
		{Server{Storage: &StorageConfig{Driver: "postgres", DSN: "{env.SETTINGS_UNSET_ANYWHERE}"}}, "storage postgres: a connection string is required"},
		{Server{AccessTokenTTL: -1}, "access_token_ttl: must be positive"},
		{Server{RefreshTokenTTL: -1}, "refresh_token_ttl: must be positive"},
		{Server{PersonalTokenTTL: -1}, "personal_token_ttl: must be positive"},
		{Server{SessionTTL: -1}, "session_ttl: must be positive"},
		{Server{PurgeInterval: -1}, "purge_interval: must be positive"},
		{Server{DefaultScope: []string{"nope"}}, `default_scope "nope"`},
		{Server{Scopes: []ScopeConfig{{Name: "a"}, {Name: "a"}}}, `scope "a" defined twice`},
		{Server{Users: []UserProviderConfig{{Kind: "ldap"}}}, `users users: kind "ldap": must be builtin or sql`},
		{Server{Users: []UserProviderConfig{{Name: "a"}, {Name: "a", Kind: "sql"}}}, "users a (#2): a provider of this name is already configured"},
		{Server{Users: []UserProviderConfig{{Name: "a", Kind: "sql", Database: &StorageConfig{Driver: "sqlite"}}}}, "users a sql: database sqlite: a connection string is required"},
		{Server{Users: []UserProviderConfig{{Name: "a", Kind: "sql", Database: &StorageConfig{Driver: "oracle", DSN: "x"}}}}, `users a sql: database: driver "oracle": must be mysql, postgres or sqlite`},
		{Server{Users: []UserProviderConfig{{Name: "a", Kind: "sql", Database: &StorageConfig{Driver: "mysql"}}}}, "users a sql: database mysql: a connection string is required"},
		{Server{Users: []UserProviderConfig{{Name: "a", Kind: "sql", Database: &StorageConfig{Driver: "mysql", DSN: "app:s3cret@tcp(db:3306)"}}}}, "users a sql: database mysql: the DSN does not parse"},
		{Server{Users: []UserProviderConfig{{Name: "a", Kind: "sql", Database: &StorageConfig{Driver: "mysql", DSN: "mysql://app:s3cret@db:3306"}}}}, "users a sql: database mysql: the DSN names no database"},
	} {
		if _, err := c.s.settings(caddy.NewReplacer(), nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.s, err, c.want)
		}
	}
}

// A sql provider may read MySQL/MariaDB, in either DSN form and from a placeholder; the
// server's own storage may not, and no refusal shows the DSN (it holds a password).
func TestServerSettingsAcceptMySQLUserDatabases(t *testing.T) {
	t.Setenv("SETTINGS_TEST_MYSQL_URL", "mysql://laravel:s3cret@db.internal:3306/app")
	for dsn, want := range map[string]string{
		"{env.SETTINGS_TEST_MYSQL_URL}":     "mysql://laravel:s3cret@db.internal:3306/app",
		"laravel:s3cret@tcp(db:3306)/app":   "laravel:s3cret@tcp(db:3306)/app",
		"mariadb://laravel@db.internal/app": "mariadb://laravel@db.internal/app",
	} {
		s := Server{Users: []UserProviderConfig{{Kind: "sql", Database: &StorageConfig{Driver: "mysql", DSN: dsn}}}}
		set, err := s.settings(caddy.NewReplacer(), nil)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if set.users[0].database != (storageLocation{"mysql", want}) {
			t.Errorf("%s: reads %+v", dsn, set.users[0].database)
		}
		if fmt.Sprint(set.users[0].database) != "mysql" {
			t.Errorf("the database is named %q in messages", fmt.Sprint(set.users[0].database))
		}
	}
	for _, dsn := range []string{"laravel:s3cret@tcp(db:3306)", "mysql://laravel:s3cret@db", "mysql://laravel:s3cret@%zz/app"} {
		s := Server{Users: []UserProviderConfig{{Kind: "sql", Database: &StorageConfig{Driver: "mysql", DSN: dsn}}}}
		_, err := s.settings(caddy.NewReplacer(), nil)
		if err == nil {
			t.Errorf("%s accepted", dsn)
		} else if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "laravel") {
			t.Errorf("the error shows the DSN: %v", err)
		}
	}
}

// failingRelease is a pool entry whose release fails.
type failingRelease struct{}

func (failingRelease) Destruct() error { return errors.New("close failed") }

// okRelease is a pool entry whose release works, and says it ran.
type okRelease struct{ ran *bool }

func (r okRelease) Destruct() error { *r.ran = true; return nil }

// A failed release does not stop the others, and says which entry failed.
func TestPooledResourcesReleaseEverythingPastAFailure(t *testing.T) {
	var ran bool
	p := &pooledResources{}
	if _, err := p.take(storePool, "test:first", "the first", func() (caddy.Destructor, error) { return okRelease{&ran}, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := p.take(ringPool, "test:second", "the second", func() (caddy.Destructor, error) { return failingRelease{}, nil }); err != nil {
		t.Fatal(err)
	}
	err := p.release()
	if err == nil || !strings.Contains(err.Error(), "releasing the second: close failed") {
		t.Fatalf("release: %v", err)
	}
	if !ran {
		t.Fatal("the entry after the failed one was not released")
	}
	poolsEmpty(t)
	if err := p.release(); err != nil {
		t.Fatalf("a second release: %v", err)
	}
}

// Cleanup is safe on a server that was never provisioned, or whose Provision failed
// before it opened anything.
func TestServerCleanupWithoutProvision(t *testing.T) {
	if err := (&Server{}).Cleanup(); err != nil {
		t.Fatal(err)
	}
	s := &Server{resources: &pooledResources{}}
	if err := s.Cleanup(); err != nil {
		t.Fatal(err)
	}
}

// passport_app_key reads Laravel's APP_KEY as Laravel does: "base64:" and its base64
// (from a placeholder, as {env.APP_KEY}), or the raw key of older applications. A key
// Laravel would not take is refused, naming the option and never showing the key.
func TestServerSettingsPassportAppKey(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	t.Setenv("SETTINGS_TEST_APP_KEY", "base64:"+base64.StdEncoding.EncodeToString(raw))
	for _, c := range []struct {
		value string
		want  []byte
	}{
		{"{env.SETTINGS_TEST_APP_KEY}", raw},
		{"base64:" + base64.StdEncoding.EncodeToString(raw[:16]), raw[:16]},
		{string(raw), raw},
		{"", nil},
	} {
		set, err := (&Server{PassportAppKey: c.value}).settings(caddy.NewReplacer(), nil)
		if err != nil {
			t.Fatalf("%q: %v", c.value, err)
		}
		if !bytes.Equal(set.passportAppKey, c.want) {
			t.Errorf("%q decoded to %x, want %x", c.value, set.passportAppKey, c.want)
		}
	}
	secret := base64.StdEncoding.EncodeToString([]byte("a-24-byte-secret-key-xyz"))
	for _, c := range []struct{ value, want string }{
		{"{env.SETTINGS_UNSET_ANYWHERE}", "passport_app_key: empty (is APP_KEY set in Caddy's environment?)"},
		{"base64:not base64!", `passport_app_key: "base64:" is not followed by valid base64`},
		{"base64:" + secret, "passport_app_key: the key is 24 bytes; a Laravel APP_KEY is 16 or 32"},
		{secret, "passport_app_key: the key is 32 bytes"}, // passes: 32 raw characters
		{base64.StdEncoding.EncodeToString(raw), "passport_app_key: the key is 44 bytes"},
	} {
		_, err := (&Server{PassportAppKey: c.value}).settings(caddy.NewReplacer(), nil)
		if c.value == secret {
			if err != nil {
				t.Errorf("a 32-character raw key was refused: %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.value, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("the refusal shows the key: %v", err)
		}
	}
}

// token_rate_limit: unset means the defaults, -1 (off) no limit of that kind, and any
// other value replaces its default.
func TestServerSettingsTokenRateLimit(t *testing.T) {
	for _, c := range []struct {
		cfg  *TokenRateLimitConfig
		want authserver.TokenRateLimit
	}{
		{nil, authserver.DefaultTokenRateLimit},
		{&TokenRateLimitConfig{}, authserver.DefaultTokenRateLimit},
		{&TokenRateLimitConfig{PerClient: -1, PerIP: 30, Window: caddy.Duration(time.Second)}, authserver.TokenRateLimit{PerClient: 0, PerIP: 30, Window: time.Second}},
		{&TokenRateLimitConfig{PerClient: 5, PerIP: -1}, authserver.TokenRateLimit{PerClient: 5, PerIP: 0, Window: time.Minute}},
	} {
		set, err := (&Server{TokenRateLimit: c.cfg}).settings(caddy.NewReplacer(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if set.tokenRateLimit != c.want {
			t.Errorf("%+v: %+v, want %+v", c.cfg, set.tokenRateLimit, c.want)
		}
	}
}
