package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/postgres"
	"github.com/caddyoauth/caddy-oauth/store/storetest"
)

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), testdb.PostgresDSN(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s // Run closes it
	})
}

// Several nodes may start at once against one empty schema: golang-migrate's advisory
// lock must make all of them succeed.
func TestConcurrentOpensOfOneEmptySchemaAllSucceed(t *testing.T) {
	dsn := testdb.PostgresDSN(t)
	const n = 4
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			s, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				_, err = s.ListSigningKeys(context.Background())
				s.Close()
			}
			errs <- err
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("Open: %v", err)
		}
	}
	// And the schema works.
	s := open(t, dsn)
	if err := s.CreateClient(context.Background(), &store.Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dsn := testdb.PostgresDSN(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx, &store.Client{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dsn)
	if _, err := s.GetClient(ctx, "c1"); err != nil {
		t.Fatalf("GetClient after reopen: %v", err)
	}
}

func TestSchemasOfOneDatabaseAreSeparate(t *testing.T) {
	a, b := open(t, testdb.PostgresDSN(t)), open(t, testdb.PostgresDSN(t))
	ctx := context.Background()
	if err := a.CreateClient(ctx, &store.Client{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetClient(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetClient in other schema: got %v, want ErrNotFound", err)
	}
}

func TestOpenWithMissingSchemaSaysSo(t *testing.T) {
	dsn := testdb.PostgresDSN(t)
	dsn = strings.Replace(dsn, "search_path=", "search_path=no_such_schema_", 1)
	s, err := postgres.Open(context.Background(), dsn)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded")
	}
	if !strings.Contains(err.Error(), "no schema of search_path") {
		t.Fatalf("error %q does not name the problem", err)
	}
}

func TestOpenWithBadDSNFails(t *testing.T) {
	if s, err := postgres.Open(context.Background(), "postgres://%zz"); err == nil {
		s.Close()
		t.Fatal("Open succeeded")
	}
}

// Two stores on one schema stand for two nodes.
func TestEnsureSigningKeyFromTwoStoresOnOneSchemaKeepsOneKey(t *testing.T) {
	dsn := testdb.PostgresDSN(t)
	a, b := open(t, dsn), open(t, dsn)
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

// Revocations locking the same tokens from different ends must not fail with a deadlock.
func TestConcurrentRevocationsOfOnePairSucceed(t *testing.T) {
	s := open(t, testdb.PostgresDSN(t))
	ctx := context.Background()
	if err := s.CreateClient(ctx, &store.Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	for round := range 50 {
		at := &store.AccessToken{ID: fmt.Sprintf("a%d", round), ClientID: "c", ExpiresAt: exp}
		rt := &store.RefreshToken{ID: fmt.Sprintf("r%d", round), FamilyID: fmt.Sprintf("f%d", round), ClientID: "c", ExpiresAt: exp}
		if err := s.CreateAccessToken(ctx, at, rt); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 4)
		go func() { errs <- s.RevokeAccessToken(ctx, at.ID) }()
		go func() { _, err := s.RevokeOtherTokens(ctx, "", "c", ""); errs <- err }()
		go func() { errs <- s.RevokeRefreshFamily(ctx, rt.FamilyID) }()
		go func() { _, err := s.Purge(ctx, store.PurgeOptions{Revoked: true}); errs <- err }()
		for range 4 {
			if err := <-errs; err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

// Two stores on one schema stand for two nodes: a revocation on one must wake the
// revocation feed's waiters on the other (LISTEN/NOTIFY).
func TestRevocationOnOneNodeWakesWaitersOnAnother(t *testing.T) {
	dsn := testdb.PostgresDSN(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	if err := a.CreateClient(ctx, &store.Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	at := &store.AccessToken{ID: "a1", ClientID: "c", ExpiresAt: time.Now().Add(time.Hour)}
	if err := a.CreateAccessToken(ctx, at, nil); err != nil {
		t.Fatal(err)
	}
	// The listener's first connection wakes waiters once, after its LISTEN: wait for it,
	// so the "no signal" window below starts with a listening backend.
	if !waitSignal(b.RevocationSignal(), 10*time.Second) {
		t.Fatal("listener never connected")
	}
	ch := b.RevocationSignal()
	if waitSignal(ch, 100*time.Millisecond) {
		t.Fatal("signalled without a revocation")
	}
	start := time.Now()
	if err := a.RevokeAccessToken(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	if !waitSignal(ch, 5*time.Second) {
		t.Fatal("the other node was not woken")
	}
	t.Logf("woken %v after the revocation", time.Since(start))
	got, _, err := b.RevocationsAfter(ctx, 0, 10)
	if err != nil || len(got) != 1 || got[0].TokenID != "a1" {
		t.Fatalf("other node reads %+v, %v", got, err)
	}
}

// A listener whose connection dies reconnects by itself, and wakes its waiters when it
// does (notifications sent meanwhile are lost, so they must re-read the log).
func TestRevocationListenerReconnectsAfterItsConnectionDies(t *testing.T) {
	app := fmt.Sprintf("listener_test_%d", time.Now().UnixNano())
	dsn := testdb.PostgresDSN(t) + "&application_name=" + app
	a, b := open(t, dsn), open(t, dsn)
	ctx := context.Background()
	if err := a.CreateClient(ctx, &store.Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	if !waitSignal(b.RevocationSignal(), 10*time.Second) { // the listener's first connection
		t.Fatal("listener never connected")
	}
	ch := b.RevocationSignal()
	admin, err := pgx.Connect(ctx, testdb.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND query LIKE 'LISTEN %'`, app).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminating the listener: killed %d, %v", killed, err)
	}
	if !waitSignal(ch, 5*time.Second) {
		t.Fatal("waiters not woken after the listener reconnected")
	}
	// And it listens again.
	at := &store.AccessToken{ID: "a1", ClientID: "c", ExpiresAt: time.Now().Add(time.Hour)}
	if err := a.CreateAccessToken(ctx, at, nil); err != nil {
		t.Fatal(err)
	}
	ch = b.RevocationSignal()
	if err := a.RevokeAccessToken(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	if !waitSignal(ch, 5*time.Second) {
		t.Fatal("not woken by a revocation after reconnecting")
	}
}

func waitSignal(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}
