package validator

import (
	"context"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
)

// cpuTime is the process's user+system CPU time, which, unlike ns/op, does not count
// time spent waiting for cores that other processes hold.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkVerifyNewTokensParallel verifies a distinct token on every iteration from all
// cores, as the "every token new" load run does, with no cache and with the guard's
// cache (sized like load.sh's, 300,000). It reports the GC's share of CPU and the live
// heap and the CPU time per token (all goroutines: the GC's and ristretto's too), which is where caching every new token costs beyond the signature check. Run it
// with a fixed -benchtime such as 100000x: tokens are signed up front, one per iteration.
func BenchmarkVerifyNewTokensParallel(b *testing.B) {
	for _, withCache := range []bool{false, true} {
		name := "cache=none"
		if withCache {
			name = "cache=on"
		}
		b.Run(name, func(b *testing.B) {
			k, ks := benchKeys(b)
			var cache *TokenCache
			if withCache {
				var err error
				if cache, err = NewTokenCache(300_000); err != nil {
					b.Fatal(err)
				}
			}
			v := newVerifier(b, ks, func(o *JWTOptions) { o.Cache = cache })
			toks := benchTokens(b, k, b.N)
			ctx := context.Background()
			var next atomic.Int64
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu0 := cpuTime()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					if _, err := v.Verify(ctx, toks[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			cpu := cpuTime() - cpu0 // the cache applies its sets at once: no background work to wait for
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.NumGC-before.NumGC), "GCs")
			b.ReportMetric(float64(after.PauseTotalNs-before.PauseTotalNs)/float64(b.N), "gc-pause-ns/op")
			b.ReportMetric(float64(after.HeapAlloc)/(1<<20), "heap-MiB")
		})
	}
}
