package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// processStats are what a leak would show in a Caddy process: goroutines (from its admin
// API's pprof), open file descriptors and resident memory (from /proc).
type processStats struct {
	goroutines, fds int
	rssKiB          int
	// heapKiB is the Go heap in use after a collection (the heap profile's gc=1), which,
	// unlike RSS, does not count memory the runtime has not yet given back.
	heapKiB int
}

func statsOf(t *testing.T, pid int, admin string) processStats {
	t.Helper()
	var s processStats
	resp, err := http.Get(admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if _, err := fmt.Sscanf(first, "goroutine profile: total %d", &s.goroutines); err != nil {
		t.Fatalf("goroutine profile header %q: %v", first, err)
	}
	resp, err = http.Get(admin + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		t.Fatal(err)
	}
	heap, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(heap), "\n") {
		if rest, ok := strings.CutPrefix(line, "# HeapInuse = "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(rest))
			s.heapKiB = n / 1024
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	s.fds = len(fds)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			s.rssKiB, _ = strconv.Atoi(strings.Fields(rest)[0])
		}
	}
	return s
}

// tally counts one kind of request's answers.
type tally struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	failures     map[string]int // what went wrong: a status or a transport error
}

func (c *tally) record(what string) {
	c.sent.Add(1)
	if what == "" {
		return
	}
	c.failed.Add(1)
	c.mu.Lock()
	c.failures[what]++
	c.mu.Unlock()
}

// Config reloads through the admin API every 2 s while load runs through the guard (a
// repeated token and tokens minted during the run), the token endpoint and introspection,
// and, as the baseline, through a plain reverse_proxy site of the same Caddy with the same
// methods. Every failed or wrong answer is counted per kind and printed; a wrong status
// or a failed GET fails the test, POSTs lost to the keep-alive race of a graceful
// shutdown (which the baseline shows too) are counted only. Goroutines, file descriptors
// and RSS are printed after a warm-up and at the end, and must not grow.
// OAUTH_RELOAD_SECONDS sets the run's length (default 20 s: 10 reloads; 60 s makes the
// 30-reload run of bench/RESULTS-reload.md); OAUTH_RELOAD_HEAP_DIR, if set, receives heap
// profiles taken after the warm-up and at the end (go tool pprof -base start.pb.gz end.pb.gz).
func TestConfigReloadUnderLoad(t *testing.T) {
	seconds := 20
	if v, err := strconv.Atoi(os.Getenv("OAUTH_RELOAD_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	// The upstream answers at once, except POST /slow, which takes about as long as the
	// token endpoint does to answer: the baseline for POSTs in flight when a reload
	// closes their connections.
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(time.Millisecond)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(upstream.Close)
	authPort, guardPort, plainPort, adminPort := freePort(t), freePort(t), freePort(t), freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", authPort)
	admin := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	db := filepath.Join(t.TempDir(), "reload.db")
	caddyfile := func(gen int) string {
		return fmt.Sprintf(`{
	admin 127.0.0.1:%[1]d
	auto_https off
	persist_config off
}
http://127.0.0.1:%[2]d {
	oauth_server {
		issuer %[3]s
		storage sqlite %[4]q
		scope orders:read Read your orders (config %[8]d)
		default_scope orders:read
		token_rate_limit {
			per_client off
			per_ip off
		}
		client svc {
			secret %[5]s
			grants client_credentials
		}
		client edge {
			secret %[6]s
			grants client_credentials
			introspect
		}
	}
}
http://127.0.0.1:%[7]d {
	oauth_guard {
		jwks %[3]s/.well-known/jwks.json
		issuer %[3]s
		scopes all orders:read
	}
	reverse_proxy %[9]s {
		transport http {
			keepalive 2s
		}
	}
}
http://127.0.0.1:%[10]d {
	header X-Config %[8]d
	reverse_proxy %[9]s {
		transport http {
			keepalive 2s
		}
	}
}
`, adminPort, authPort, issuer, db, svcSecret, edgeSecret, guardPort, gen, strings.TrimPrefix(upstream.URL, "http://"), plainPort)
	}
	proc := startCaddyProcess(t, "reload", caddyfile(0))
	for _, port := range []int{authPort, guardPort, plainPort} {
		proc.waitListening(t, fmt.Sprintf("127.0.0.1:%d", port))
	}
	reload := func(gen int) error {
		resp, err := http.Post(admin+"/load", "text/caddyfile", strings.NewReader(caddyfile(gen)))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		return nil
	}

	client := loadClient()
	mint := func() (string, string) {
		req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc", svcSecret)
		resp, err := client.Do(req)
		if err != nil {
			return "", err.Error()
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil || body.AccessToken == "" {
			return "", strconv.Itoa(resp.StatusCode)
		}
		return body.AccessToken, ""
	}
	repeated, fail := mint()
	if fail != "" {
		t.Fatalf("first token: %s", fail)
	}
	var fresh atomic.Value // the latest token minted under load, used at the guard
	fresh.Store(repeated)
	check := func(req *http.Request) string {
		status, _, errText := do(client, req)
		if errText != "" {
			return "transport: " + errText
		}
		if status != http.StatusOK {
			return "status " + strconv.Itoa(status)
		}
		return ""
	}
	guard := func(token string) string {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/orders", guardPort), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return check(req)
	}
	kinds := map[string]func() string{
		"guard, repeated token (GET)": func() string { return guard(repeated) },
		"guard, new token (GET)":      func() string { return guard(fresh.Load().(string)) },
		"token endpoint (POST)": func() string {
			tok, fail := mint()
			if fail == "" {
				fresh.Store(tok)
			}
			return fail
		},
		"introspection (POST)": func() string {
			req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth/introspect", strings.NewReader("token="+repeated))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("edge", edgeSecret)
			status, _, errText := do(client, req)
			if errText != "" {
				return "transport: " + errText
			}
			if status != http.StatusOK {
				return "status " + strconv.Itoa(status)
			}
			return ""
		},
		"plain reverse_proxy (GET)": func() string {
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/orders", plainPort), nil)
			return check(req)
		},
		"plain reverse_proxy (POST)": func() string {
			req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/slow", plainPort), bytes.NewReader([]byte("token="+repeated)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return check(req)
		},
	}
	names := make([]string, 0, len(kinds))
	for name := range kinds {
		names = append(names, name)
	}
	sort.Strings(names)
	tallies := map[string]*tally{}
	for _, name := range names {
		tallies[name] = &tally{failures: map[string]int{}}
		if fail := kinds[name](); fail != "" {
			t.Fatalf("before any reload, %s: %s", name, fail)
		}
	}

	// Warm up with two reloads, then measure from there.
	for gen := 1; gen <= 2; gen++ {
		if err := reload(gen); err != nil {
			t.Fatalf("reload %d: %v", gen, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	startStats := statsOf(t, proc.cmd.Process.Pid, admin)
	saveHeap := func(name string) {
		if dir := os.Getenv("OAUTH_RELOAD_HEAP_DIR"); dir != "" {
			if resp, err := http.Get(admin + "/debug/pprof/heap?gc=1"); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				_ = os.WriteFile(filepath.Join(dir, name), b, 0o644)
			}
		}
	}
	saveHeap("start.pb.gz")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 4 // client goroutines, each with one request (one connection) in flight
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for {
				select {
				case <-stop:
					return
				default:
				}
				name := names[rng.IntN(len(names))]
				tallies[name].record(kinds[name]())
			}
		}()
	}
	reloads := 0
	for gen := 3; gen < 3+seconds/2; gen++ {
		time.Sleep(2 * time.Second)
		if err := reload(gen); err != nil {
			t.Errorf("reload %d under load: %v", gen, err)
		}
		reloads++
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	// Caddy keeps the upstream connections of a replaced config's reverse_proxy until
	// they have been idle for its keepalive (2 minutes by default; plain Caddy with only
	// reverse_proxy grows by about 4 connections a reload that way): the sites here set
	// 2 s, and the end is measured past it.
	client.CloseIdleConnections()
	time.Sleep(3 * time.Second)
	endStats := statsOf(t, proc.cmd.Process.Pid, admin)
	saveHeap("end.pb.gz")
	if os.Getenv("OAUTH_RELOAD_DUMP") != "" {
		resp, err := http.Get(admin + "/debug/pprof/goroutine?debug=1")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			os.WriteFile(os.Getenv("OAUTH_RELOAD_DUMP"), b, 0o644)
		}
	}

	t.Logf("%d reloads in %d s under load (%d clients, keep-alive):", reloads, seconds, workers)
	for _, name := range names {
		c := tallies[name]
		t.Logf("  %-28s %6d requests, %d failed %v", name, c.sent.Load(), c.failed.Load(), c.failures)
	}
	t.Logf("after warm-up: %d goroutines, %d fds, %d KiB heap, %d KiB RSS; at the end: %d goroutines, %d fds, %d KiB heap, %d KiB RSS",
		startStats.goroutines, startStats.fds, startStats.heapKiB, startStats.rssKiB, endStats.goroutines, endStats.fds, endStats.heapKiB, endStats.rssKiB)

	// A wrong answer is a failure whatever the baseline. A request on a keep-alive
	// connection that the reload's graceful shutdown closes just as the client sends on it
	// fails in transport (EOF, reset, "server closed idle connection"): Go's HTTP client
	// retries that for a GET only when it can tell nothing was sent, never for a POST, and
	// the baseline's requests through plain reverse_proxy meet the same race (seen on a
	// loaded machine: 1 GET in 8,800 through the guard, 5 POSTs in 8,400 through plain
	// reverse_proxy). Those are counted and printed beside the baseline. The race happens
	// at most once per reload on each connection the reload closes, and the workers keep
	// about one connection each in use per site, so more than reloads × workers of a kind
	// is a failure: it means requests fail for some other, systematic reason. (A bound on
	// the ratio does not hold: on a busy machine fewer requests are sent, but the reloads
	// and connections, and so the races, stay the same.)
	keepAliveRace := func(what string) bool {
		return strings.HasSuffix(what, ": EOF") || strings.HasSuffix(what, "connection reset by peer") ||
			strings.HasSuffix(what, "server closed idle connection")
	}
	for _, name := range names {
		c := tallies[name]
		c.mu.Lock()
		races := 0
		for what, n := range c.failures {
			if keepAliveRace(what) {
				races += n
				continue
			}
			t.Errorf("%s: %d× %s", name, n, what)
		}
		c.mu.Unlock()
		if races > reloads*workers {
			t.Errorf("%s: %d of %d requests lost to closed keep-alive connections, more than %d reloads × %d client connections",
				name, races, c.sent.Load(), reloads, workers)
		}
		if c.sent.Load() < int64(seconds) {
			t.Errorf("%s: only %d requests in %d s", name, c.sent.Load(), seconds)
		}
	}
	// Growth across the reloads: a leak grows with each one; allow what the GC and the
	// connection pools move by themselves.
	if endStats.goroutines > startStats.goroutines+30 {
		t.Errorf("goroutines grew from %d to %d across %d reloads", startStats.goroutines, endStats.goroutines, reloads)
	}
	if endStats.fds > startStats.fds+20 {
		t.Errorf("file descriptors grew from %d to %d across %d reloads", startStats.fds, endStats.fds, reloads)
	}
	if endStats.rssKiB > startStats.rssKiB*3/2+32*1024 {
		t.Errorf("RSS grew from %d KiB to %d KiB across %d reloads", startStats.rssKiB, endStats.rssKiB, reloads)
	}
}
