package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
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
	ticks := postgresTicks()
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
	// Clock ticks are 10 ms on Linux (CLK_TCK 100); every postgres process counts,
	// another user's included.
	b.ReportMetric(float64(postgresTicks()-ticks)*1e4/float64(b.N), "pg-µs/token")
}

func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// postgresTicks sums the CPU ticks (user+system) of every process named postgres, so a
// benchmark can report the database's CPU per operation. 0 where /proc is missing.
func postgresTicks() int64 {
	dirs, _ := os.ReadDir("/proc")
	var total int64
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: utime and stime are the
		// 12th and 13th.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		total += u + s
	}
	return total
}
