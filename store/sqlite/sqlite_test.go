package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
	"github.com/caddyoauth/caddy-oauth/store/storetest"
	_ "modernc.org/sqlite"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, testdb.SQLitePath(t))
	})
}

func TestOpenCreatesParentDirectoryPrivately(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := open(t, filepath.Join(dir, "oauth.db"))
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("directory mode %o, want 700", perm)
	}
}

func TestOpenCreatesFilesReadableByOwnerOnly(t *testing.T) {
	path := testdb.SQLitePath(t)
	s := open(t, path)
	defer s.Close()
	if err := s.CreateClient(context.Background(), &store.Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), perm)
		}
	}
}

func TestOpenRejectsPathsThatAreNotPlainFiles(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if s, err := sqlite.Open(context.Background(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", p)
		}
	}
}

func TestOpenPutsFileInWALMode(t *testing.T) {
	path := testdb.SQLitePath(t)
	s := open(t, path)
	defer s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode %q, want wal", mode)
	}
}

func TestReopenKeepsDataAndSkipsAppliedMigrations(t *testing.T) {
	path := testdb.SQLitePath(t)
	ctx := context.Background()
	s := open(t, path)
	if err := s.CreateClient(ctx, &store.Client{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	if _, err := s.GetClient(ctx, "c1"); err != nil {
		t.Fatalf("GetClient after reopen: %v", err)
	}
}

// Several processes may open one new file at once; each Open is its own pair of pools,
// as a separate process would have.
func TestConcurrentOpensOfOneNewFileAllSucceed(t *testing.T) {
	for round := range 50 {
		path := testdb.SQLitePath(t)
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				s, err := sqlite.Open(context.Background(), path)
				if err == nil {
					err = s.Close()
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Errorf("round %d: Open: %v", round, err)
			}
		}
	}
}

// Two stores on one file stand for two nodes starting at once.
func TestEnsureSigningKeyFromTwoStoresOnOneFileKeepsOneKey(t *testing.T) {
	path := testdb.SQLitePath(t)
	a, b := open(t, path), open(t, path)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	errs := make(chan error, 8)
	ids := make(chan string, 8)
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		go func() {
			k, err := s.EnsureSigningKey(ctx, &store.SigningKey{ID: fmt.Sprintf("k%d", i), Alg: "ES256", PrivatePEM: []byte("pem")})
			if err == nil {
				ids <- k.ID
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	first := <-ids
	for range 7 {
		if id := <-ids; id != first {
			t.Fatalf("EnsureSigningKey returned %s and %s", first, id)
		}
	}
	keys, err := b.ListSigningKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ListSigningKeys: %d keys, %v; want 1", len(keys), err)
	}
}

func TestRotateRefreshTokenFromTwoStoresOnOneFileHasOneWinner(t *testing.T) {
	path := testdb.SQLitePath(t)
	a, b := open(t, path), open(t, path)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	if err := a.CreateClient(ctx, &store.Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if err := a.CreateAccessToken(ctx, &store.AccessToken{ID: "a0", ClientID: "c", ExpiresAt: exp},
		&store.RefreshToken{ID: "r0", FamilyID: "f", ClientID: "c", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		go func() {
			errs <- s.RotateRefreshToken(ctx, "r0",
				&store.AccessToken{ID: fmt.Sprintf("a%d", i+1), ClientID: "c", ExpiresAt: exp},
				&store.RefreshToken{ID: fmt.Sprintf("r%d", i+1), FamilyID: "f", ClientID: "c", ExpiresAt: exp})
		}()
	}
	wins := 0
	for range 8 {
		switch err := <-errs; {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrAlreadyUsed):
			t.Fatal(err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d rotations succeeded, want 1", wins)
	}
}
