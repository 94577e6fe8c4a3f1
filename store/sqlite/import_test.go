package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
)

// indexSQL lists the access_tokens indexes as sqlite_master has them.
func indexSQL(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index' AND tbl_name = 'access_tokens' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var name, create string
		if err := rows.Scan(&name, &create); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %s\n", name, create)
	}
	return b.String()
}

// A large import drops access_tokens' secondary indexes for its inserts and builds them
// again: afterwards they are exactly the migrations' and queries use them; a dry run and
// a failed import leave them as they were.
func TestLargeImportRebuildsTheIndexesItDrops(t *testing.T) {
	ctx := context.Background()
	path := testdb.SQLitePath(t)
	s := open(t, path)
	defer s.Close()
	before := indexSQL(t, path)
	if strings.Count(before, "\n") < 5 {
		t.Fatalf("expected the migrations' indexes, got:\n%s", before)
	}
	now := time.Now().UTC()
	imp := func(n int, client string) *store.PassportImport {
		p := &store.PassportImport{Clients: []*store.Client{{ID: "1", Name: "A", Grants: []string{"client_credentials"}, CreatedAt: now, UpdatedAt: now}}}
		for i := range n {
			p.AccessTokens = append(p.AccessTokens, &store.AccessToken{ID: fmt.Sprintf("t%07d", i), ClientID: client,
				UserID: fmt.Sprint(i % 97), Scopes: []string{"a"}, Revoked: i%1000 == 0, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
		}
		return p
	}
	const n = 60000 // over the rebuild threshold
	dry := imp(n, "1")
	dry.DryRun = true
	if c, err := s.ImportPassport(ctx, dry); err != nil || c.AccessTokens != n {
		t.Fatalf("dry run: %+v %v", c, err)
	}
	bad := imp(n, "1")
	bad.AccessTokens[n-1].ClientID = "nobody"
	if _, err := s.ImportPassport(ctx, bad); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("import naming a missing client: %v", err)
	}
	if got := indexSQL(t, path); got != before {
		t.Fatalf("indexes after a dry run and a failed import:\n%s\nwant:\n%s", got, before)
	}
	if c, err := s.ImportPassport(ctx, imp(n, "1")); err != nil || c.AccessTokens != n || c.Revocations != n/1000 {
		t.Fatalf("import: %+v %v", c, err)
	}
	if got := indexSQL(t, path); got != before {
		t.Fatalf("indexes after the import:\n%s\nwant:\n%s", got, before)
	}
	// The rebuilt indexes hold every row: a user's tokens come from access_tokens_user_id.
	toks, err := s.ListAccessTokens(ctx, "5")
	if err != nil || len(toks) != (n+96-5)/97 {
		t.Fatalf("user 5's tokens through the rebuilt index: %d %v", len(toks), err)
	}
}
