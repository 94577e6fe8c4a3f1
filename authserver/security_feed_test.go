package authserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// Many long polls of the revocation feed hold no more than their requests: one revocation
// answers them all at once, callers that hang up end their handlers, and afterwards no
// goroutine is left behind.
func TestRevocationFeedManyWaitersAreBoundedAndAllWake(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		const waiters = 100
		tr := &http.Transport{MaxIdleConnsPerHost: waiters}
		client := &http.Client{Transport: tr}
		auth := basic("rs", rsSecret)
		get := func(ctx context.Context, query string) (int, map[string]any, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.ts.URL+authserver.PathRevocations+"?"+query, nil)
			req.Header.Set("Authorization", auth)
			resp, err := client.Do(req)
			if err != nil {
				return 0, nil, err
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode, body, nil
		}
		_, snap, err := get(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		cursor := snap["cursor"].(string)
		_, refresh := f.userTokens()
		baseline := runtime.NumGoroutine()

		// Half the waiters hang up after a moment; the other half wait for a revocation.
		var wg sync.WaitGroup
		woke := make(chan time.Duration, waiters)
		hangUp, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		for i := 0; i < waiters; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ctx := context.Background()
				if i%2 == 0 {
					ctx = hangUp
				}
				status, body, err := get(ctx, url.Values{"after": {cursor}, "wait": {"30"}}.Encode())
				if i%2 == 0 {
					return // cancelled by design
				}
				if err != nil || status != 200 {
					t.Errorf("waiter %d: %d %v", i, status, err)
					return
				}
				if revs, _ := body["revocations"].([]any); len(revs) == 0 {
					t.Errorf("waiter %d woke without the revocation: %v", i, body)
				}
				woke <- time.Since(start)
			}(i)
		}
		time.Sleep(500 * time.Millisecond)
		if r := send(t, f.ts.URL, authserver.PathRevoke, url.Values{"token": {refresh}}, basic("app", pwSecret)); r.Status != 200 {
			t.Fatalf("revoke: %d", r.Status)
		}
		wg.Wait()
		close(woke)
		n := 0
		for d := range woke {
			n++
			if d > 5*time.Second {
				t.Errorf("a waiter woke %v after the start, want soon after the revocation", d)
			}
		}
		if n != waiters/2 {
			t.Fatalf("%d waiters woke, want %d", n, waiters/2)
		}
		// Every handler has returned: the goroutine count comes back to where it was.
		tr.CloseIdleConnections()
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > baseline+5 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := runtime.NumGoroutine(); got > baseline+5 {
			t.Fatalf("%d goroutines after the long polls ended, %d before", got, baseline)
		}
	})
}
