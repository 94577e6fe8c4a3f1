package validator

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// benchIntrospector returns an introspector with one active token in its cache; compare
// with BenchmarkVerifyCacheHit (the JWT mode's hit path).
func benchIntrospector(b *testing.B) (*Introspector, string) {
	b.Helper()
	srv := newAuthServer(b)
	in := newIntrospector(b, srv, func(o *IntrospectionOptions) { o.CacheTTL = time.Hour })
	tok := srv.issue(liveClaims(time.Hour, map[string]any{"scope": "orders:read orders:write profile"}))
	if _, err := in.Verify(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	in.cache.Wait()
	if _, ok := in.cache.getActive(tok); !ok {
		b.Fatal("answer not cached")
	}
	return in, tok
}

func BenchmarkIntrospectionCacheHit(b *testing.B) {
	in, tok := benchIntrospector(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := in.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIntrospectionCacheHitParallel(b *testing.B) {
	in, tok := benchIntrospector(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := in.Verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchFeed returns a feed that has synced n revoked ids.
func benchFeed(b *testing.B, n int) *RevocationFeed {
	b.Helper()
	srv := newAuthServer(b)
	exp := time.Now().Add(time.Hour).Unix()
	for i := 0; i < n; i++ {
		srv.recordRevocation("revoked-"+strconv.Itoa(i), exp)
	}
	f := newFeed(b, srv, nil)
	eventually(b, 10*time.Second, "feed synced", func() bool { return f.Size() == int64(n) })
	return f
}

// BenchmarkRevokedLookup is the per-request check for a token that is not revoked (the
// common case) among 10 000 revoked ids.
func BenchmarkRevokedLookup(b *testing.B) {
	f := benchFeed(b, 10_000)
	jti := "tok-not-revoked-0123456789"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if f.Revoked(jti) {
			b.Fatal("revoked")
		}
	}
}

func BenchmarkRevokedLookupParallel(b *testing.B) {
	f := benchFeed(b, 10_000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			// Alternate a hit and a miss.
			jti := "revoked-5000"
			if i&1 == 1 {
				jti = "tok-not-revoked"
			}
			i++
			if f.Revoked(jti) != (i&1 == 1) {
				b.Error("wrong answer")
				return
			}
		}
	})
}
