package authserver_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/passwords"
	"github.com/caddyoauth/caddy-oauth/scopes"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/postgres"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

const shopSecret = "shop-secret-0123456789abcdef"

// appFixture is a fixture whose database also holds an application's own user table,
// read by a sql provider named customers through the store's database.
type appFixture struct {
	*fixture
	driver, dsn string
	appDB       *sql.DB // a writable handle on the application table, for setting it up
	provider    *authserver.SQLUsers
}

// eachAppStore runs body on SQLite and Postgres with an application table app_users
// beside the store's tables.
func eachAppStore(t *testing.T, body func(t *testing.T, f *appFixture)) {
	t.Run("sqlite", func(t *testing.T) {
		path := testdb.SQLitePath(t)
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, st, nil)
		f.dump = func() string { return testdb.Fingerprint(t, "sqlite", path) }
		body(t, newAppFixture(t, f, "sqlite", path))
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testdb.PostgresDSN(t)
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		f := newFixture(t, st, nil)
		f.dump = func() string { return testdb.Fingerprint(t, "postgres", dsn) }
		body(t, newAppFixture(t, f, "postgres", dsn))
	})
}

// appUsersDDL is Laravel's users migration, on each database.
var appUsersDDL = map[string]string{
	"postgres": `CREATE TABLE app_users (
		id bigserial PRIMARY KEY, name varchar(255) NOT NULL, email varchar(255) NOT NULL UNIQUE,
		email_verified_at timestamp NULL, password varchar(255) NULL, remember_token varchar(100) NULL,
		created_at timestamp NULL, updated_at timestamp NULL)`,
	"sqlite": `CREATE TABLE app_users (
		id integer PRIMARY KEY AUTOINCREMENT, name varchar NOT NULL, email varchar NOT NULL UNIQUE,
		email_verified_at datetime NULL, password varchar NULL, remember_token varchar NULL,
		created_at datetime NULL, updated_at datetime NULL)`,
}

func newAppFixture(t *testing.T, f *fixture, driver, dsn string) *appFixture {
	t.Helper()
	ctx := context.Background()
	sqlDriver := map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[driver]
	appDB, err := sql.Open(sqlDriver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { appDB.Close() })
	if _, err := appDB.ExecContext(ctx, appUsersDDL[driver]); err != nil {
		t.Fatal(err)
	}
	readDB, err := authserver.OpenUserDB(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { readDB.Close() })
	p, err := authserver.NewSQLUsers(ctx, readDB, "SELECT id, password FROM app_users WHERE email = $1")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := f.st.CreateClient(ctx, &store.Client{ID: "shop", Name: "Shop", SecretHash: authserver.HashSecret(shopSecret),
		Grants: []string{"password", "refresh_token"}, Provider: "customers", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	af := &appFixture{fixture: f, driver: driver, dsn: dsn, appDB: appDB, provider: p}
	af.restart(map[string]authserver.UserProvider{"customers": p})
	return af
}

// restart replaces the fixture's server with one on the same store, keys and scopes
// whose providers are the given ones (the default builtin provider is added by New).
func (f *appFixture) restart(providers map[string]authserver.UserProvider) {
	f.reconfigure(func(c *authserver.Config) { c.Providers = providers })
}

// reconfigure replaces the fixture's server with one on the same store, keys and scopes,
// with the config changed by edit.
func (f *fixture) reconfigure(edit func(*authserver.Config)) {
	f.t.Helper()
	ring := &keys.Ring{}
	if err := keys.Bootstrap(context.Background(), f.st, ring, keys.ES256, time.Hour); err != nil {
		f.t.Fatal(err)
	}
	cat, err := scopes.NewCatalog([]scopes.Definition{
		{Name: "orders:read", Description: "Read orders"},
		{Name: "orders:write", Description: "Write orders"},
	}, []string{"orders:read"})
	if err != nil {
		f.t.Fatal(err)
	}
	cfg := authserver.Config{Issuer: testIssuer, Store: f.st, Keys: ring, Scopes: cat}
	edit(&cfg)
	srv, err := authserver.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.srv = srv
	f.ts.Config.Handler = srv
}

// addAppUser inserts a row as Laravel's User::create would and returns its id.
func (f *appFixture) addAppUser(name, email string, hash any) int64 {
	f.t.Helper()
	var id int64
	err := f.appDB.QueryRowContext(context.Background(),
		`INSERT INTO app_users (name, email, password, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id`,
		name, email, hash, time.Now().UTC()).Scan(&id)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *appFixture) passwordGrant(client, secret, username, password string) tokenReply {
	f.t.Helper()
	return f.post(url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}, client, secret)
}

func bcryptAs(t *testing.T, prefix, password string) string {
	t.Helper()
	h, err := passwords.Bcrypt{Cost: 4}.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + h[4:]
}

func TestSQLProviderAcceptsLaravelBcryptAndArgon2idHashes(t *testing.T) {
	eachAppStore(t, func(t *testing.T, f *appFixture) {
		argon, err := passwords.Hash("argon pass")
		if err != nil {
			t.Fatal(err)
		}
		users := []struct {
			email, password, hash string
		}{
			{"y@shop.test", "why not", bcryptAs(t, "$2y$", "why not")},
			{"a@shop.test", "a pass", bcryptAs(t, "$2a$", "a pass")},
			{"b@shop.test", "b pass", bcryptAs(t, "$2b$", "b pass")},
			{"argon@shop.test", "argon pass", argon},
		}
		for _, u := range users {
			id := f.addAppUser("Someone", u.email, u.hash)
			r := f.passwordGrant("shop", shopSecret, u.email, u.password)
			if r.Status != 200 {
				t.Fatalf("%s: %d %v", u.email, r.Status, r.Body)
			}
			_, cl := f.claims(r.Body["access_token"].(string))
			if cl["sub"] != formatInt(id) || cl["provider"] != "customers" || cl["client_id"] != "shop" {
				t.Errorf("%s: claims %v", u.email, cl)
			}
			rec, err := f.st.GetAccessToken(context.Background(), cl["jti"].(string))
			if err != nil || rec.Provider != "customers" || rec.UserID != formatInt(id) {
				t.Errorf("%s: record %+v %v", u.email, rec, err)
			}
			if r := f.passwordGrant("shop", shopSecret, u.email, u.password+"!"); r.Status != 400 || r.Body["error"] != "invalid_grant" {
				t.Errorf("%s with a wrong password: %d %v", u.email, r.Status, r.Body)
			}
		}
		// A refresh keeps the provider.
		r := f.passwordGrant("shop", shopSecret, "y@shop.test", "why not")
		rr := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.Body["refresh_token"].(string)}}, "shop", shopSecret)
		if rr.Status != 200 {
			t.Fatalf("refresh: %d %v", rr.Status, rr.Body)
		}
		if _, cl := f.claims(rr.Body["access_token"].(string)); cl["provider"] != "customers" {
			t.Errorf("refreshed token's provider %v", cl["provider"])
		}
	})
}

// A client is bound to its provider: a user of another provider cannot log in through it.
func TestPasswordClientOnlyAuthenticatesItsProvidersUsers(t *testing.T) {
	eachAppStore(t, func(t *testing.T, f *appFixture) {
		f.addAppUser("Shopper", "shopper@shop.test", bcryptAs(t, "$2y$", "shop pass"))
		before := f.dump()
		if r := f.passwordGrant("shop", shopSecret, userEmail, userPass); r.Status != 400 || r.Body["error"] != "invalid_grant" {
			t.Errorf("built-in user through the customers client: %d %v", r.Status, r.Body)
		}
		if r := f.passwordGrant("app", pwSecret, "shopper@shop.test", "shop pass"); r.Status != 400 || r.Body["error"] != "invalid_grant" {
			t.Errorf("customer through the default client: %d %v", r.Status, r.Body)
		}
		if after := f.dump(); after != before {
			t.Fatal("refused logins changed the store")
		}
		if r := f.passwordGrant("app", pwSecret, userEmail, userPass); r.Status != 200 {
			t.Fatalf("built-in user through the default client: %d %v", r.Status, r.Body)
		}
		if _, cl := f.claims(f.passwordGrant("app", pwSecret, userEmail, userPass).Body["access_token"].(string)); cl["provider"] != "users" {
			t.Errorf("default provider claim %v", cl["provider"])
		}
	})
}

// Accounts without a usable hash (social logins leave password NULL, or a plain-text
// value) never log in, whatever is typed.
func TestSQLProviderRefusesUsersWithoutUsableHash(t *testing.T) {
	eachAppStore(t, func(t *testing.T, f *appFixture) {
		f.addAppUser("Social", "social@shop.test", nil)
		f.addAppUser("Plain", "plain@shop.test", "hunter22")
		f.addAppUser("Empty", "empty@shop.test", "")
		for _, c := range []struct{ user, pass string }{
			{"social@shop.test", "anything"}, {"plain@shop.test", "hunter22"}, {"empty@shop.test", "x"},
		} {
			if r := f.passwordGrant("shop", shopSecret, c.user, c.pass); r.Status != 400 || r.Body["error"] != "invalid_grant" {
				t.Errorf("%s: %d %v", c.user, r.Status, r.Body)
			}
		}
	})
}

// A query that matches several rows is ambiguous and logs nobody in.
func TestSQLProviderRefusesAmbiguousUsername(t *testing.T) {
	eachAppStore(t, func(t *testing.T, f *appFixture) {
		f.addAppUser("twin", "one@shop.test", bcryptAs(t, "$2y$", "same pass"))
		f.addAppUser("twin", "two@shop.test", bcryptAs(t, "$2y$", "same pass"))
		db, err := authserver.OpenUserDB(f.driver, f.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		byName, err := authserver.NewSQLUsers(context.Background(), db, "SELECT id, password FROM app_users WHERE name = $1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := byName.Authenticate(context.Background(), "twin", "same pass"); !errors.Is(err, authserver.ErrInvalidCredentials) {
			t.Fatalf("ambiguous name: %v", err)
		}
	})
}

// The application's table is only read: a query that would write fails, and the row is
// unchanged.
func TestSQLProviderCannotWriteTheApplicationTable(t *testing.T) {
	eachAppStore(t, func(t *testing.T, f *appFixture) {
		hash := bcryptAs(t, "$2y$", "keep me")
		f.addAppUser("Victim", "victim@shop.test", hash)
		db, err := authserver.OpenUserDB(f.driver, f.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		writer, err := authserver.NewSQLUsers(context.Background(), db,
			"UPDATE app_users SET password = 'x' WHERE email = $1 RETURNING id, password")
		if err == nil {
			if _, err = writer.Authenticate(context.Background(), "victim@shop.test", "x"); err == nil {
				t.Fatal("a writing query succeeded")
			}
		}
		var got string
		if err := f.appDB.QueryRow("SELECT password FROM app_users WHERE email = 'victim@shop.test'").Scan(&got); err != nil || got != hash {
			t.Fatalf("row changed: %q %v", got, err)
		}
	})
}

// Configuration mistakes are found when the provider is made, not at the first login.
func TestSQLProviderQueryIsCheckedUpFront(t *testing.T) {
	eachAppStore(t, func(t *testing.T, f *appFixture) {
		db, err := authserver.OpenUserDB(f.driver, f.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := authserver.NewSQLUsers(context.Background(), db, "SELECT id, password FROM no_such_table WHERE email = $1"); err == nil {
			t.Fatal("a query on a missing table was accepted")
		}
	})
}

// An unknown user costs what a wrong password for a real one does, whatever the cost of
// the application's hashes: a cost-11 bcrypt table is slower than the default argon2id
// dummy, and the decoy must follow it.
func TestUnknownUserCostsAsMuchAsWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	eachAppStore(t, func(t *testing.T, f *appFixture) {
		h, err := passwords.Bcrypt{Cost: 11}.Hash("slow pass")
		if err != nil {
			t.Fatal(err)
		}
		f.addAppUser("Slow", "slow@shop.test", "$2y$"+h[4:])
		ctx := context.Background()
		// Learn the table's shape once, as a first real login would.
		_, _ = f.provider.Authenticate(ctx, "slow@shop.test", "wrong")
		// What an attacker times is the password hash's work, which runs on this goroutine:
		// count the CPU time of its thread, not the wall clock, which a busy machine (CI
		// with other work on the same cores) stretches at random. Alternate the two kinds
		// of login all the same.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var known, unknown []time.Duration
		for range 7 {
			for _, u := range []struct {
				name string
				into *[]time.Duration
			}{{"slow@shop.test", &known}, {"nobody@shop.test", &unknown}} {
				start := threadCPU(t)
				if _, err := f.provider.Authenticate(ctx, u.name, "wrong guess"); !errors.Is(err, authserver.ErrInvalidCredentials) {
					t.Fatalf("%s: %v", u.name, err)
				}
				*u.into = append(*u.into, threadCPU(t)-start)
			}
		}
		median := func(d []time.Duration) time.Duration {
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			return d[len(d)/2]
		}
		knownMedian, unknownMedian := median(known), median(unknown)
		if ratio := float64(unknownMedian) / float64(knownMedian); ratio < 0.6 || ratio > 1.6 {
			t.Fatalf("wrong password %v, unknown user %v: ratio %.2f reveals which users exist", knownMedian, unknownMedian, ratio)
		}
	})
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

// threadCPU is the CPU time the calling OS thread has used (Linux RUSAGE_THREAD); the
// caller locks its goroutine to the thread.
func threadCPU(t *testing.T) time.Duration {
	t.Helper()
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
