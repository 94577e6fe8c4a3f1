package validator

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/appdb"
	"github.com/caddyoauth/caddy-oauth/internal/laravel"
)

// TestPassportRevocationsQueryCost measures what following a Laravel database costs it:
// the time of one incremental read (the query a guard makes every interval) on a MariaDB
// oauth_access_tokens table of N rows, 1% of them revoked, without and with the index on
// updated_at. It is a measurement, not part of the default suite: it runs only when
// OAUTH_PASSPORT_COST_ROWS is set, e.g.
//
//	OAUTH_PASSPORT_COST_ROWS=1000000 go test -run TestPassportRevocationsQueryCost -v ./validator/
func TestPassportRevocationsQueryCost(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("OAUTH_PASSPORT_COST_ROWS"))
	if n <= 0 {
		t.Skip("set OAUTH_PASSPORT_COST_ROWS to measure")
	}
	l := newLaravelDB(t, appdb.MySQL)
	ctx := context.Background()
	start := time.Now()
	const batch = 2000
	old := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02 15:04:05")
	exp := time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02 15:04:05")
	for done := 0; done < n; done += batch {
		var b strings.Builder
		b.WriteString("INSERT INTO oauth_access_tokens (id, user_id, client_id, name, scopes, revoked, created_at, updated_at, expires_at) VALUES ")
		for i := 0; i < batch && done+i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			revoked := 0
			if (done+i)%100 == 0 {
				revoked = 1
			}
			fmt.Fprintf(&b, "('%s', %d, 1, NULL, '[]', %d, '%s', '%s', '%s')", laravel.NewTokenID(), (done+i)%5000, revoked, old, old, exp)
		}
		if _, err := l.w.ExecContext(ctx, b.String()); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d rows inserted in %v", n, time.Since(start).Round(time.Millisecond))
	p := l.follow(t, func(o *PassportRevocationsOptions) { o.Interval = time.Hour })
	eventually(t, 2*time.Minute, "first read", p.Synced)
	measure := func(label string) {
		const polls = 20
		var total time.Duration
		for range polls {
			s := time.Now()
			if err := p.readChanged(ctx); err != nil {
				t.Fatal(err)
			}
			total += time.Since(s)
		}
		s := time.Now()
		if err := p.readAll(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: incremental read %v per poll (mean of %d); full read of %d revoked ids %v",
			label, (total / polls).Round(time.Microsecond), polls, p.Size(), time.Since(s).Round(time.Millisecond))
	}
	measure("without an index on updated_at")
	if _, err := l.w.ExecContext(ctx, "CREATE INDEX oauth_access_tokens_updated_at_index ON oauth_access_tokens (updated_at)"); err != nil {
		t.Fatal(err)
	}
	measure("with the index on updated_at")
}
