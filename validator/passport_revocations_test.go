package validator

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/appdb"
	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// laravelDB is a Laravel-shaped database: a writer (as the application) and the driver
// name and DSN the follower opens read-only.
type laravelDB struct {
	driver, dsn string
	w           *sql.DB
}

func newLaravelDB(t *testing.T, driver string) *laravelDB {
	t.Helper()
	var dsn, sqlDriver string
	switch driver {
	case appdb.MySQL:
		dsn, sqlDriver = testdb.MySQLDSN(t), "mysql"
	case appdb.Postgres:
		dsn, sqlDriver = testdb.PostgresDSN(t), "pgx"
	default:
		dsn, sqlDriver = testdb.SQLitePath(t), "sqlite"
	}
	writerDSN := dsn
	if sqlDriver == "sqlite" {
		// The follower under test reads every few milliseconds; on a busy machine the
		// test's own writes (an ALTER TABLE) meet its read locks, so wait for them.
		writerDSN += "?_pragma=busy_timeout(5000)"
	}
	w, err := sql.Open(sqlDriver, writerDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := laravel.CreateSchema(context.Background(), w, driver); err != nil {
		t.Fatal(err)
	}
	return &laravelDB{driver: driver, dsn: dsn, w: w}
}

// laravelNow is a time as Laravel writes it: whole seconds, no zone.
func laravelNow(d time.Duration) string {
	return time.Now().UTC().Add(d).Format("2006-01-02 15:04:05")
}

// token inserts an access token row as Passport does and returns its id.
func (l *laravelDB) token(t *testing.T, revoked bool, expiresIn time.Duration) string {
	t.Helper()
	id := laravel.NewTokenID()
	q := laravel.Placeholders(l.driver, `INSERT INTO oauth_access_tokens (id, user_id, client_id, name, scopes, revoked, created_at, updated_at, expires_at) VALUES (?, 7, 1, NULL, '[]', ?, ?, ?, ?)`)
	if _, err := l.w.Exec(q, id, revoked, laravelNow(0), laravelNow(0), laravelNow(expiresIn)); err != nil {
		t.Fatal(err)
	}
	return id
}

// revoke does what $token->revoke() does: revoked = 1, updated_at = now.
func (l *laravelDB) revoke(t *testing.T, id string, touchUpdatedAt bool) {
	t.Helper()
	q := `UPDATE oauth_access_tokens SET revoked = ?, updated_at = ? WHERE id = ?`
	args := []any{true, laravelNow(0), id}
	if !touchUpdatedAt { // a raw query that leaves updated_at alone
		q, args = `UPDATE oauth_access_tokens SET revoked = ? WHERE id = ?`, []any{true, id}
	}
	if _, err := l.w.Exec(laravel.Placeholders(l.driver, q), args...); err != nil {
		t.Fatal(err)
	}
}

func (l *laravelDB) follow(t *testing.T, mutate func(*PassportRevocationsOptions)) *PassportRevocations {
	t.Helper()
	db, err := appdb.Open(l.driver, l.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	opts := PassportRevocationsOptions{DB: db, Driver: l.driver, Interval: 50 * time.Millisecond}
	if mutate != nil {
		mutate(&opts)
	}
	p, err := NewPassportRevocations(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// On every database Laravel runs on: tokens revoked before the start are known at once,
// expired ones are not kept, a revocation made by $token->revoke() is seen within a few
// polls, and one made by a raw UPDATE that leaves updated_at alone by the next full read.
func TestPassportRevocationsFollowLaravelsDatabase(t *testing.T) {
	for _, driver := range []string{appdb.MySQL, appdb.Postgres, appdb.SQLite} {
		t.Run(driver, func(t *testing.T) {
			l := newLaravelDB(t, driver)
			old := l.token(t, true, time.Hour)
			expired := l.token(t, true, -time.Hour)
			live := l.token(t, false, time.Hour)
			raw := l.token(t, false, time.Hour)
			// Last touched an hour ago: only the full read can see a raw UPDATE of it.
			if _, err := l.w.Exec(laravel.Placeholders(driver, `UPDATE oauth_access_tokens SET updated_at = ? WHERE id = ?`), laravelNow(-time.Hour), raw); err != nil {
				t.Fatal(err)
			}
			p := l.follow(t, func(o *PassportRevocationsOptions) { o.FullReadInterval = 700 * time.Millisecond })
			eventually(t, 5*time.Second, "first read", p.Synced)
			if !p.Revoked(old) || p.Revoked(expired) || p.Revoked(live) || p.Size() != 1 {
				t.Fatalf("after the first read: old %v expired %v live %v size %d", p.Revoked(old), p.Revoked(expired), p.Revoked(live), p.Size())
			}
			l.revoke(t, live, true)
			took := eventually(t, 5*time.Second, "revoke() seen", func() bool { return p.Revoked(live) })
			t.Logf("%s: revoke() reached the follower in %v", driver, took)
			// The incremental read keys on updated_at (what the index serves): a follower
			// whose full read is an hour away does not see a raw UPDATE...
			slow := l.follow(t, func(o *PassportRevocationsOptions) { o.FullReadInterval = time.Hour })
			eventually(t, 5*time.Second, "first read", slow.Synced)
			l.revoke(t, raw, false)
			time.Sleep(300 * time.Millisecond)
			if slow.Revoked(raw) {
				t.Fatal("the incremental read saw a row whose updated_at did not move")
			}
			// ...and the full read does.
			eventually(t, 5*time.Second, "a raw UPDATE seen by the full read", func() bool { return p.Revoked(raw) })
			if p.Behind() || p.Lag() != 0 {
				t.Fatalf("healthy follower says behind %v lag %v", p.Behind(), p.Lag())
			}
		})
	}
}

// A database that cannot be reached: the follower says so once (not once a poll), knows
// nothing new, and when the database answers, says so once and catches up.
func TestPassportRevocationsSayWhenTheDatabaseIsOutAndCatchUp(t *testing.T) {
	l := newLaravelDB(t, appdb.SQLite)
	id := l.token(t, false, time.Hour)
	db, err := appdb.Open(appdb.SQLite, l.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// Rename the table away: every query fails until it is back.
	if _, err := l.w.Exec(`ALTER TABLE oauth_access_tokens RENAME TO gone`); err != nil {
		t.Fatal(err)
	}
	var behind, caughtUp atomic.Int32
	p, err := NewPassportRevocations(PassportRevocationsOptions{DB: db, Driver: appdb.SQLite,
		Interval: 20 * time.Millisecond, BehindAfter: 100 * time.Millisecond,
		OnBehind:   func(time.Duration, error) { behind.Add(1) },
		OnCaughtUp: func(time.Duration) { caughtUp.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	eventually(t, 5*time.Second, "behind", p.Behind)
	time.Sleep(200 * time.Millisecond) // many failed polls
	if n := behind.Load(); n != 1 || p.Synced() || p.Lag() == 0 {
		t.Fatalf("OnBehind told %d times, synced %v, lag %v", n, p.Synced(), p.Lag())
	}
	if _, err := l.w.Exec(`ALTER TABLE gone RENAME TO oauth_access_tokens`); err != nil {
		t.Fatal(err)
	}
	l.revoke(t, id, true)
	eventually(t, 5*time.Second, "caught up", func() bool { return p.Revoked(id) && !p.Behind() })
	if n := caughtUp.Load(); n != 1 {
		t.Fatalf("OnCaughtUp told %d times", n)
	}
}

// A guard with the follower refuses what Laravel revoked, cached or not.
func TestGuardRefusesTokensLaravelRevoked(t *testing.T) {
	f := newGuardFixture(t)
	l := newLaravelDB(t, appdb.SQLite)
	id := l.token(t, false, time.Hour)
	p := l.follow(t, nil)
	eventually(t, 5*time.Second, "first read", p.Synced)
	g := f.guard(t, func(o *GuardOptions) { o.Revocations = []RevocationList{p} })
	tok := f.sign(t, map[string]any{"jti": id})
	for range 2 {
		if _, err := g.Check(bearerRequest("Bearer " + tok)); err != nil {
			t.Fatal(err)
		}
	}
	l.revoke(t, id, true)
	eventually(t, 5*time.Second, "Laravel's revocation refused at the guard", func() bool {
		_, err := g.Check(bearerRequest("Bearer " + tok))
		return err != nil
	})
	_, err := g.Check(bearerRequest("Bearer " + tok))
	wantRefusal(t, err, InvalidToken, "token revoked")
}

func TestNewPassportRevocationsChecksOptions(t *testing.T) {
	if _, err := NewPassportRevocations(PassportRevocationsOptions{Driver: "mysql"}); err == nil {
		t.Error("no database accepted")
	}
	db, _ := sql.Open("sqlite", ":memory:")
	defer db.Close()
	if _, err := NewPassportRevocations(PassportRevocationsOptions{DB: db, Driver: "oracle"}); err == nil {
		t.Error("driver oracle accepted")
	}
}
