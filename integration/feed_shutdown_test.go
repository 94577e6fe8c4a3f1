package integration

import (
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestServerStopsPromptlyWhileGuardsHoldFeedLongPolls stops a Caddy process whose
// oauth_server holds a revocation-feed long poll: Caddy's graceful stop waits for every
// request in flight, so the server must answer held polls when Caddy says it is stopping,
// not after their 30 s.
func TestServerStopsPromptlyWhileGuardsHoldFeedLongPolls(t *testing.T) {
	port := freePort(t)
	p := startCaddyProcess(t, "server", processGlobals+fmt.Sprintf(`
http://127.0.0.1:%d {
	oauth_server {
		storage sqlite %q
		client rs {
			secret %s
			grants client_credentials
			introspect
		}
	}
}
`, port, t.TempDir()+"/oauth.db", svcSecret))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p.waitListening(t, addr)

	feedURL := fmt.Sprintf("http://%s/oauth/revocations", addr)
	get := func(query string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", feedURL+query, nil)
		req.SetBasicAuth("rs", svcSecret)
		return http.DefaultClient.Do(req)
	}
	resp, err := get("")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("feed snapshot: %v %v", resp, err)
	}
	resp.Body.Close()

	held := make(chan int, 1)
	go func() {
		resp, err := get("?after=0&wait=30")
		if err != nil {
			held <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	time.Sleep(500 * time.Millisecond) // the poll is being held

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("Caddy was still stopping 10s after SIGTERM while a feed long poll was held")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Caddy took %v to stop", took)
	}
	if status := <-held; status != 200 {
		t.Errorf("the held long poll ended with %d, want an answer (200)", status)
	}
}
