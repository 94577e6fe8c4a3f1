package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
)

// BenchmarkCreateAccessToken measures the hot write: an access token with its refresh
// token (one statement), from many goroutines at once as concurrent token requests
// would issue them.
//
//	go test -run '^$' -bench CreateAccessToken -benchtime 3s ./store/postgres/
func BenchmarkCreateAccessToken(b *testing.B) {
	s := open(b, testdb.PostgresDSN(b))
	ctx := context.Background()
	if err := s.CreateClient(ctx, &store.Client{ID: "bench"}); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4) // 4 goroutines per CPU: requests outnumber cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			at := &store.AccessToken{ID: randomID(), ClientID: "bench", UserID: "user-1", Provider: "builtin",
				Scopes: []string{"openid", "profile"}, KeyID: "kid", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			rt := &store.RefreshToken{ID: randomID(), AccessTokenID: at.ID, FamilyID: randomID(), ClientID: "bench",
				UserID: "user-1", Provider: "builtin", Scopes: at.Scopes, CreatedAt: now, ExpiresAt: now.Add(720 * time.Hour)}
			if err := s.CreateAccessToken(ctx, at, rt); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}
