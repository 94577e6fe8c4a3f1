package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/groupcommit"
)

// A batch holding one refused pair fails as a whole in PostgreSQL; the writer must then
// store every other pair and give the refused caller alone its error. The batch is built
// by hand here, so the test does not depend on how calls happen to be gathered.
func TestBatchWithRefusedPairStoresTheOthersAndFailsOnlyItsCaller(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testdb.PostgresDSN(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.CreateClient(ctx, &store.Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	token := func(i int) *store.AccessToken {
		return &store.AccessToken{ID: fmt.Sprintf("at-%d", i), ClientID: "c", Scopes: []string{"a"},
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	existing := token(0)
	if err := s.CreateAccessToken(ctx, existing, nil); err != nil {
		t.Fatal(err)
	}
	var batch []*groupcommit.Request[tokenPair]
	for i := 1; i <= 8; i++ {
		at := token(i)
		var rt *store.RefreshToken
		if i%2 == 0 {
			rt = &store.RefreshToken{ID: fmt.Sprintf("rt-%d", i), AccessTokenID: at.ID, FamilyID: at.ID,
				ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		}
		batch = append(batch, groupcommit.NewRequest(ctx, tokenPair{at, rt}))
	}
	batch[4].Item.at.ID = existing.ID // refused: a duplicate id, in the middle of the batch
	if s.insertBatch(ctx, batch) == nil {
		t.Fatal("the batch holding a duplicate id was accepted")
	}
	s.writeBatch(batch)
	for i, r := range batch {
		err := wrapErr("create", r.Verdict())
		if i == 4 {
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("refused pair: got %v, want ErrConflict", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("pair %d: %v", i, err)
		}
		if _, err := s.GetAccessToken(ctx, r.Item.at.ID); err != nil {
			t.Errorf("pair %d not stored: %v", i, err)
		}
	}
}
