package integration

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// A guard in front of a running Laravel Passport application follows its database: a
// token the application revokes (revoked = 1, updated_at = now, as $token->revoke() does)
// is refused through real Caddy, on MariaDB and PostgreSQL. Over 100 revocations it
// prints p50 and p99 of the time from the UPDATE's commit to the guard's first refusal;
// the test polls every 100 ms (the default is 500 ms, which keeps a refusal under the
// product's 1 s) and revokes at a random moment between polls, so the figures are not
// phase-locked to the poll. It asserts only that each arrives, within a generous 5 s.
func TestGuardRefusesTokensRevokedInLaravelsDatabase(t *testing.T) {
	keys, err := laravel.NewKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	pem := filepath.Join(t.TempDir(), "oauth-public.key")
	if err := os.WriteFile(pem, keys.PublicKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ driver, sqlDriver, dsn string }{
		{laravel.MySQL, "mysql", testdb.MySQLDSN(t)},
		{laravel.Postgres, "pgx", testdb.PostgresDSN(t)},
	} {
		t.Run(c.driver, func(t *testing.T) {
			db, err := sql.Open(c.sqlDriver, c.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := laravel.CreateSchema(context.Background(), db, c.driver); err != nil {
				t.Fatal(err)
			}
			up := newUpstream(t)
			port := freePort(t)
			startCaddy(t, fmt.Sprintf(caddyGlobals+`http://127.0.0.1:%d {
	oauth_guard {
		jwks %s
		passport
		passport_revocations %s %q {
			interval 100ms
		}
	}
	reverse_proxy %s
}`, port, pem, c.driver, c.dsn, up.Listener.Addr()))
			api := fmt.Sprintf("http://127.0.0.1:%d/orders", port)
			ts := func(d time.Duration) string { return time.Now().UTC().Add(d).Format("2006-01-02 15:04:05") }
			const rounds = 100
			lat := make([]time.Duration, 0, rounds)
			for i := 0; i < rounds; i++ {
				id := laravel.NewTokenID()
				if _, err := db.Exec(laravel.Placeholders(c.driver, `INSERT INTO oauth_access_tokens
					(id, user_id, client_id, name, scopes, revoked, created_at, updated_at, expires_at)
					VALUES (?, 7, 3, NULL, '["orders:read"]', ?, ?, ?, ?)`), id, false, ts(0), ts(0), ts(time.Hour)); err != nil {
					t.Fatal(err)
				}
				now := time.Now()
				tok := keys.Mint(laravel.AccessToken{ID: id, ClientID: "3", UserID: "7", Scopes: []string{"orders:read"},
					IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
				if r := call(t, "GET", api, tok, nil); r.status != 200 {
					t.Fatalf("round %d: a live token got %d %v", i, r.status, r.body)
				}
				time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
				if _, err := db.Exec(laravel.Placeholders(c.driver, `UPDATE oauth_access_tokens SET revoked = ?, updated_at = ? WHERE id = ?`), true, ts(0), id); err != nil {
					t.Fatal(err)
				}
				revoked := time.Now()
				for {
					r := call(t, "GET", api, tok, nil)
					if r.status == 401 && r.body["error"] == "invalid_token" {
						break
					}
					if r.status != 200 {
						t.Fatalf("round %d: revoked token got %d %v", i, r.status, r.body)
					}
					if time.Since(revoked) > 5*time.Second {
						t.Fatalf("round %d: the guard still passes a token Laravel revoked 5 s ago", i)
					}
					time.Sleep(5 * time.Millisecond)
				}
				lat = append(lat, time.Since(revoked))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			t.Logf("%s: revoked in Laravel's database -> refused at the guard, %d revocations: p50 %v, p99 %v, max %v",
				c.driver, rounds, lat[rounds/2], lat[rounds*99/100], lat[rounds-1])
		})
	}
}
