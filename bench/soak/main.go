// Command soak drives a mixed load against an oauth_server and an oauth_guard on
// 127.0.0.1 for a bounded time (bench/soak.sh starts them): the guard with a repeated
// token and with tokens minted during the run, issuance on every grant
// (client_credentials, password, refresh_token, authorization_code with PKCE through a
// signed-in session), introspection, and revocations that the guard follows through the
// revocation feed (a revoked token must be refused there within a few seconds). Every
// failure is counted; after a warm-up (the load runs, nothing is measured: the caches
// fill for one token lifetime) it prints, per endpoint, requests, errors and p50/p99
// latency of the first and the last minute, and the Caddy process's goroutines, RSS and
// Go heap sampled every 10 s. It exits non-zero on any error or on growth of goroutines
// or RSS beyond 10 % from the first measured minute to the last.
package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

var (
	issuer   = flag.String("issuer", "http://127.0.0.1:9500", "oauth_server's origin")
	guardURL = flag.String("guard", "http://127.0.0.1:9501/orders", "a URL behind oauth_guard")
	admin    = flag.String("admin", "http://127.0.0.1:9509", "Caddy's admin API (for goroutines)")
	pidFile  = flag.String("pid", "", "file holding Caddy's pid (for RSS)")
	duration = flag.Duration("duration", 10*time.Minute, "how long to measure")
	warmup   = flag.Duration("warmup", 3*time.Minute, "load before measuring: the caches fill for one token lifetime (2 minutes here)")
	workers  = flag.Int("workers", 8, "concurrent clients")
	user     = flag.String("user", "soak@example.com", "a user of the server")
	password = flag.String("password", "a soak password", "that user's password")
)

const (
	svc, svcSecret = "svc", "svc-secret-0123456789abcdef"
	pw, pwSecret   = "pw", "pw-secret-0123456789abcdef0"
	web, webSecret = "web", "web-secret-0123456789abcdef"
	rs, rsSecret   = "rs", "rs-secret-0123456789abcdef0"
	webCallback    = "http://127.0.0.1:9/cb"
)

// sample is one request's outcome.
type sample struct {
	at      time.Duration // since the start
	latency time.Duration
	failed  string
}

type recorder struct {
	mu      sync.Mutex
	samples map[string][]sample
}

func (r *recorder) add(kind string, start time.Time, began time.Time, failed string) {
	r.mu.Lock()
	r.samples[kind] = append(r.samples[kind], sample{at: began.Sub(start), latency: time.Since(began), failed: failed})
	r.mu.Unlock()
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// post sends a form with Basic authentication and decodes a JSON answer.
func post(path, id, secret string, form url.Values) (map[string]any, string) {
	req, _ := http.NewRequest(http.MethodPost, *issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := client.Do(req)
	if err != nil {
		return nil, "transport: " + err.Error()
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil && resp.StatusCode != http.StatusOK {
		return nil, fmt.Sprintf("status %d", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Sprintf("status %d %v", resp.StatusCode, body["error"])
	}
	return body, ""
}

func tokenOf(body map[string]any, key string) string { s, _ := body[key].(string); return s }

// atGuard presents token at the guard; want is the status expected.
func atGuard(token string, want int) string {
	req, _ := http.NewRequest(http.MethodGet, *guardURL, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return "transport: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Sprintf("status %d, want %d", resp.StatusCode, want)
	}
	return ""
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// signIn logs the user in through the login form and returns a client holding the
// session.
func signIn() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: client.Transport, CheckRedirect: client.CheckRedirect}
	resp, err := c.Get(*issuer + "/oauth/login")
	if err != nil {
		log.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		log.Fatalf("no CSRF field on the login page")
	}
	resp, err = c.PostForm(*issuer+"/oauth/login", url.Values{"_csrf": {string(m[1])}, "username": {*user}, "password": {*password}})
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		log.Fatalf("login: %d", resp.StatusCode)
	}
	return c
}

// codeFlow runs the authorization code flow with PKCE for the first-party client web in
// the signed-in browser b and returns the token answer.
func codeFlow(b *http.Client) (map[string]any, string) {
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {web}, "redirect_uri": {webCallback}, "state": {"s"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	resp, err := b.Get(*issuer + "/oauth/authorize?" + q.Encode())
	if err != nil {
		return nil, "transport: " + err.Error()
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		return nil, fmt.Sprintf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return post("/oauth/token", web, webSecret, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {webCallback}, "code_verifier": {verifier}})
}

// processStats reads Caddy's goroutines and Go heap in use after a collection (admin
// pprof) and its RSS (/proc).
func processStats() (goroutines, rssKiB, heapKiB int) {
	if resp, err := http.Get(*admin + "/debug/pprof/goroutine?debug=1"); err == nil {
		first, _ := bufio.NewReader(resp.Body).ReadString('\n')
		resp.Body.Close()
		fmt.Sscanf(first, "goroutine profile: total %d", &goroutines)
	}
	if resp, err := http.Get(*admin + "/debug/pprof/heap?gc=1&debug=1"); err == nil {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "# HeapInuse = "); ok {
				var n int
				fmt.Sscanf(rest, "%d", &n)
				heapKiB = n / 1024
			}
		}
		resp.Body.Close()
	}
	if raw, err := os.ReadFile(*pidFile); err == nil {
		status, _ := os.ReadFile("/proc/" + strings.TrimSpace(string(raw)) + "/status")
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				fmt.Sscanf(strings.TrimSpace(rest), "%d", &rssKiB)
			}
		}
	}
	return
}

func percentile(ls []time.Duration, p float64) time.Duration {
	if len(ls) == 0 {
		return 0
	}
	slices.Sort(ls)
	return ls[min(len(ls)-1, int(float64(len(ls))*p))]
}

func main() {
	flag.Parse()
	rec := &recorder{samples: map[string][]sample{}}
	first, fail := post("/oauth/token", svc, svcSecret, url.Values{"grant_type": {"client_credentials"}})
	if fail != "" {
		log.Fatalf("first token: %s", fail)
	}
	// The repeated token is replaced every minute: access tokens live 2 minutes here, so
	// that purge_interval has expired rows to delete during the run.
	var repeatedMu sync.RWMutex
	repeated := tokenOf(first, "access_token")
	current := func() string {
		repeatedMu.RLock()
		defer repeatedMu.RUnlock()
		return repeated
	}
	go func() {
		for range time.Tick(time.Minute) {
			if body, fail := post("/oauth/token", svc, svcSecret, url.Values{"grant_type": {"client_credentials"}}); fail == "" {
				repeatedMu.Lock()
				repeated = tokenOf(body, "access_token")
				repeatedMu.Unlock()
			}
		}
	}()
	browser := signIn()

	// The load starts now; what is measured starts after the warm-up.
	start := time.Now().Add(*warmup)
	deadline := start.Add(*duration)
	var (
		mu       sync.Mutex
		refresh  []string // refresh tokens to rotate
		fresh    []string // recent access tokens
		statsMu  sync.Mutex
		stats    [][4]int // seconds, goroutines, RSS KiB, heap KiB
		wg       sync.WaitGroup
		stopStat = make(chan struct{})
	)
	go func() {
		time.Sleep(time.Until(start))
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			g, r, h := processStats()
			statsMu.Lock()
			stats = append(stats, [4]int{int(time.Since(start).Seconds()), g, r, h})
			statsMu.Unlock()
			select {
			case <-stopStat:
				return
			case <-t.C:
			}
		}
	}()
	kinds := []string{"guard repeated", "guard new", "client_credentials", "password", "refresh_token",
		"authorization_code", "introspect", "revoke"}
	for w := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), 3))
			for time.Now().Before(deadline) {
				kind := kinds[rng.IntN(len(kinds))]
				began := time.Now()
				var failed string
				switch kind {
				case "guard repeated":
					failed = atGuard(current(), http.StatusOK)
				case "guard new":
					mu.Lock()
					tok := current()
					if len(fresh) > 0 {
						tok = fresh[rng.IntN(len(fresh))]
					}
					mu.Unlock()
					failed = atGuard(tok, http.StatusOK)
				case "client_credentials":
					var body map[string]any
					if body, failed = post("/oauth/token", svc, svcSecret, url.Values{"grant_type": {"client_credentials"}}); failed == "" {
						mu.Lock()
						fresh = append(fresh, tokenOf(body, "access_token"))
						if len(fresh) > 200 {
							fresh = fresh[len(fresh)-200:]
						}
						mu.Unlock()
					}
				case "password":
					var body map[string]any
					if body, failed = post("/oauth/token", pw, pwSecret, url.Values{"grant_type": {"password"}, "username": {*user}, "password": {*password}}); failed == "" {
						mu.Lock()
						refresh = append(refresh, tokenOf(body, "refresh_token"))
						mu.Unlock()
					}
				case "refresh_token":
					mu.Lock()
					if len(refresh) == 0 {
						mu.Unlock()
						continue
					}
					rt := refresh[len(refresh)-1]
					refresh = refresh[:len(refresh)-1]
					mu.Unlock()
					var body map[string]any
					if body, failed = post("/oauth/token", pw, pwSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); failed == "" {
						mu.Lock()
						if len(refresh) < 500 {
							refresh = append(refresh, tokenOf(body, "refresh_token"))
						}
						mu.Unlock()
					}
				case "authorization_code":
					_, failed = codeFlow(browser)
				case "introspect":
					var body map[string]any
					if body, failed = post("/oauth/introspect", rs, rsSecret, url.Values{"token": {current()}}); failed == "" && body["active"] != true {
						failed = "repeated token inactive"
					}
				case "revoke":
					// Mint, use, revoke: the guard must refuse it once the feed brings it.
					var body map[string]any
					if body, failed = post("/oauth/token", svc, svcSecret, url.Values{"grant_type": {"client_credentials"}}); failed != "" {
						break
					}
					tok := tokenOf(body, "access_token")
					if failed = atGuard(tok, http.StatusOK); failed != "" {
						break
					}
					if _, failed = post("/oauth/revoke", svc, svcSecret, url.Values{"token": {tok}}); failed != "" {
						break
					}
					for wait := time.Now(); ; time.Sleep(100 * time.Millisecond) {
						if atGuard(tok, http.StatusUnauthorized) == "" {
							break
						}
						if time.Since(wait) > 5*time.Second {
							failed = "revoked token still passes the guard after 5 s"
							break
						}
					}
				}
				if began.After(start) || failed != "" {
					rec.add(kind, start, began, failed) // failures count during the warm-up too
				}
			}
		}()
	}
	wg.Wait()
	close(stopStat)

	total := time.Since(start)
	lastFrom := total - time.Minute
	errors := 0
	fmt.Printf("soak: %s measured after %s of warm-up, %d workers\n", total.Round(time.Second), *warmup, *workers)
	fmt.Printf("%-20s %9s %7s %22s %22s\n", "endpoint", "requests", "errors", "first minute p50/p99", "last minute p50/p99")
	sort.Strings(kinds)
	for _, kind := range kinds {
		var firstL, lastL []time.Duration
		failures, failed := map[string]int{}, 0
		for _, s := range rec.samples[kind] {
			if s.failed != "" {
				failures[s.failed]++
				failed++
			}
			if s.at < time.Minute {
				firstL = append(firstL, s.latency)
			}
			if s.at >= lastFrom {
				lastL = append(lastL, s.latency)
			}
		}
		errors += failed
		fmt.Printf("%-20s %9d %7d %10s/%-11s %10s/%-11s\n", kind, len(rec.samples[kind]), failed,
			percentile(firstL, .5).Round(10*time.Microsecond), percentile(firstL, .99).Round(10*time.Microsecond),
			percentile(lastL, .5).Round(10*time.Microsecond), percentile(lastL, .99).Round(10*time.Microsecond))
		for what, n := range failures {
			fmt.Printf("    %d× %s\n", n, what)
		}
	}
	// Growth: the mean of the samples of the first minute against the last minute's.
	mean := func(from, to time.Duration, i int) float64 {
		sum, n := 0, 0
		for _, s := range stats {
			if at := time.Duration(s[0]) * time.Second; at >= from && at < to && s[i] > 0 {
				sum, n = sum+s[i], n+1
			}
		}
		if n == 0 {
			return 0
		}
		return float64(sum) / float64(n)
	}
	fmt.Println("minute  goroutines  RSS KiB  heap KiB (means of the 10 s samples)")
	for m := time.Duration(0); m < total; m += time.Minute {
		fmt.Printf("%6d  %10.0f  %7.0f  %8.0f\n", int(m/time.Minute)+1, mean(m, m+time.Minute, 1), mean(m, m+time.Minute, 2), mean(m, m+time.Minute, 3))
	}
	grew := false
	// Goroutines and RSS must stay within 10 %. The heap in use is printed, not judged: it
	// swings with the argon2id buffers of the password logins in flight at a sample (tens
	// of MiB each way), more than any trend.
	for i, name := range []string{1: "goroutines", 2: "RSS KiB", 3: "heap KiB"} {
		if i == 0 {
			continue
		}
		a, b := mean(0, time.Minute, i), mean(lastFrom, total+time.Second, i)
		fmt.Printf("%-10s first minute %.0f, last minute %.0f (%+.1f %%)\n", name, a, b, 100*(b-a)/max(a, 1))
		if i < 3 && b > a*1.10 {
			grew = true
		}
	}
	if errors > 0 || grew {
		fmt.Println("FAIL")
		os.Exit(1)
	}
	fmt.Println("PASS")
}
