package validator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of RevocationFeedOptions.
const (
	// DefaultFeedWait is the long-poll time asked of the server (it allows 0..30 s).
	DefaultFeedWait = 25 * time.Second
	// DefaultFeedBehindAfter is how long the feed may be unreachable before the
	// subscriber calls itself behind.
	DefaultFeedBehindAfter = 15 * time.Second
	// DefaultFeedRetention is how long a revoked id is kept after its token's exp, to
	// cover the clock leeway verifiers allow past exp.
	DefaultFeedRetention  = time.Minute
	defaultFeedMinBackoff = 250 * time.Millisecond
	defaultFeedMaxBackoff = 5 * time.Second
	// maxFeedAnswer bounds one answer: a snapshot of a million ids is ~60 MiB, far more
	// than any real deployment keeps unexpired.
	maxFeedAnswer     = 64 << 20
	feedSweepInterval = 30 * time.Second
)

// RevocationFeedOptions configures a RevocationFeed.
type RevocationFeedOptions struct {
	// URL is the server's revocation feed (GET /oauth/revocations); required.
	URL string
	// Credentials authenticate the subscriber, as for introspection; required.
	Credentials CallerCredentials
	// HTTPClient makes the calls; default a client whose timeout exceeds Wait by 15 s.
	HTTPClient *http.Client
	// Wait is the long-poll time asked of the server. Zero means DefaultFeedWait.
	Wait time.Duration
	// BehindAfter is how long the feed may stay unreachable before OnBehind is called and
	// Behind reports true. Zero means DefaultFeedBehindAfter.
	BehindAfter time.Duration
	// Retention is how long an id is kept past its token's exp. Zero means
	// DefaultFeedRetention.
	Retention time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed polls (doubling, jittered).
	// Zero means 250 ms and 5 s: a dead feed costs little to retry, and every second
	// spent waiting after it is back is a second revoked tokens still pass.
	MinBackoff, MaxBackoff time.Duration
	// OnBehind is called once when the feed has been unreachable for BehindAfter, with
	// the last error; OnCaughtUp once it answers again, with how long it was out.
	OnBehind   func(out time.Duration, err error)
	OnCaughtUp func(out time.Duration)
	// Now overrides the clock used for expiry; for tests.
	Now func() time.Time
}

// RevocationFeed follows a server's feed of revoked access-token ids (GET
// /oauth/revocations, long-polled) in a background goroutine and answers "is this jti
// revoked?" without a lock or a call. It keeps each id until its token expired (plus
// Retention), replaces its set when the server says its cursor is unknown (reset), and
// after a disconnect resumes from its last cursor with backoff.
//
// Until the first answer arrives, and while the feed is unreachable, it knows only what
// it learned before: it says so through Behind and OnBehind, and it never blocks requests
// (a guard in JWT mode keeps working without the server; refusing everything while the
// feed is down would turn a server outage into an API outage).
type RevocationFeed struct {
	url         string
	auth        *callerAuth
	client      *http.Client
	wait        time.Duration
	behindAfter time.Duration
	retention   time.Duration
	minBackoff  time.Duration
	maxBackoff  time.Duration
	onBehind    func(time.Duration, error)
	onCaughtUp  func(time.Duration)
	now         func() time.Time

	// set maps jti to its token's exp (unix seconds). It is immutable once published:
	// the poll goroutine, the only writer, builds a new map and swaps the pointer, so a
	// request's lookup takes no lock and does not allocate (sync.Map would box the key
	// into an interface on every lookup). Copying costs O(ids) per answer, and answers
	// are rare next to requests.
	set atomic.Pointer[map[string]int64]
	// size is len(*set), for metrics.
	size atomic.Int64

	cursor    atomic.Pointer[string]
	lastOK    atomic.Int64 // unix nanos of the last good answer (or of the start)
	failing   atomic.Bool
	behind    atomic.Bool
	synced    atomic.Bool
	lastSweep time.Time
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// NewRevocationFeed checks opts and starts following the feed until Close.
func NewRevocationFeed(opts RevocationFeedOptions) (*RevocationFeed, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("revocation feed %q: not an http(s) URL", opts.URL)
	}
	f := &RevocationFeed{
		url:         opts.URL,
		client:      opts.HTTPClient,
		wait:        opts.Wait,
		behindAfter: opts.BehindAfter,
		retention:   opts.Retention,
		minBackoff:  opts.MinBackoff,
		maxBackoff:  opts.MaxBackoff,
		onBehind:    opts.OnBehind,
		onCaughtUp:  opts.OnCaughtUp,
		now:         opts.Now,
		done:        make(chan struct{}),
	}
	if f.wait <= 0 {
		f.wait = DefaultFeedWait
	}
	if f.wait > 30*time.Second {
		f.wait = 30 * time.Second // the protocol's ceiling
	}
	if f.behindAfter <= 0 {
		f.behindAfter = DefaultFeedBehindAfter
	}
	if f.retention <= 0 {
		f.retention = DefaultFeedRetention
	}
	if f.minBackoff <= 0 {
		f.minBackoff = defaultFeedMinBackoff
	}
	if f.maxBackoff <= 0 {
		f.maxBackoff = defaultFeedMaxBackoff
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.client == nil {
		f.client = &http.Client{Timeout: f.wait + 15*time.Second}
	}
	f.auth, err = newCallerAuth(opts.Credentials, f.client)
	if err != nil {
		return nil, err
	}
	f.set.Store(&map[string]int64{})
	empty := ""
	f.cursor.Store(&empty)
	f.lastOK.Store(time.Now().UnixNano())
	f.failing.Store(true) // nothing known yet
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go f.run(ctx)
	return f, nil
}

// Revoked reports whether the feed named jti as revoked. It takes no lock and does not
// allocate, so it runs on every request.
func (f *RevocationFeed) Revoked(jti string) bool {
	_, ok := (*f.set.Load())[jti]
	return ok
}

// Synced reports whether at least one answer has been applied.
func (f *RevocationFeed) Synced() bool { return f.synced.Load() }

// Behind reports whether the feed has been unreachable for longer than BehindAfter.
func (f *RevocationFeed) Behind() bool { return f.behind.Load() }

// Lag is how long the feed has been failing to answer: zero while polls succeed.
func (f *RevocationFeed) Lag() time.Duration {
	if !f.failing.Load() {
		return 0
	}
	return time.Since(time.Unix(0, f.lastOK.Load()))
}

// Size returns how many revoked ids are kept.
func (f *RevocationFeed) Size() int64 { return f.size.Load() }

// Cursor returns the position the next poll resumes from.
func (f *RevocationFeed) Cursor() string { return *f.cursor.Load() }

// Close stops the background poll and waits for it.
func (f *RevocationFeed) Close() {
	f.closeOnce.Do(func() {
		f.cancel()
		<-f.done
	})
}

// feedAnswer is one answer of the feed (see the wire protocol).
type feedAnswer struct {
	Revocations []struct {
		JTI string      `json:"jti"`
		Exp numericDate `json:"exp"`
	} `json:"revocations"`
	Cursor *string `json:"cursor"`
	Reset  bool    `json:"reset"`
}

func (f *RevocationFeed) run(ctx context.Context) {
	defer close(f.done)
	backoff := f.minBackoff
	var lastErr error
	for ctx.Err() == nil {
		err := f.poll(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if f.failing.Swap(false) && f.behind.Swap(false) && f.onCaughtUp != nil {
				f.onCaughtUp(time.Since(time.Unix(0, f.lastOK.Load())))
			}
			f.lastOK.Store(time.Now().UnixNano())
			backoff = f.minBackoff
			f.sweep()
			continue
		}
		lastErr = err
		f.failing.Store(true)
		out := time.Since(time.Unix(0, f.lastOK.Load()))
		if out >= f.behindAfter && !f.behind.Swap(true) && f.onBehind != nil {
			f.onBehind(out, lastErr)
		}
		// Full jitter keeps a fleet of guards from reconnecting in lockstep after a
		// server restart.
		sleep := backoff/2 + rand.N(backoff/2+1)
		backoff = min(backoff*2, f.maxBackoff)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// poll makes one long-poll request and applies its answer.
func (f *RevocationFeed) poll(ctx context.Context) error {
	q := url.Values{"wait": {strconv.Itoa(int(f.wait / time.Second))}}
	cursor := f.Cursor()
	if cursor != "" {
		q.Set("after", cursor)
	}
	target := f.url
	if u, err := url.Parse(f.url); err == nil {
		for k, v := range u.Query() {
			if _, ours := q[k]; !ours {
				q[k] = v
			}
		}
		u.RawQuery = q.Encode()
		target = u.String()
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		if err := f.auth.authorize(req); err != nil {
			return err
		}
		resp, err := f.client.Do(req)
		if err != nil {
			return fmt.Errorf("polling revocation feed: %w", err)
		}
		if resp.StatusCode == http.StatusUnauthorized && f.auth.usesToken() && attempt == 0 {
			resp.Body.Close()
			f.auth.rejected()
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("revocation feed %s answered %d", f.url, resp.StatusCode)
		}
		var ans feedAnswer
		dec := json.NewDecoder(io.LimitReader(resp.Body, maxFeedAnswer))
		if err := dec.Decode(&ans); err != nil {
			return fmt.Errorf("revocation feed %s gave an unusable answer: %w", f.url, err)
		}
		if ans.Cursor == nil {
			return fmt.Errorf("revocation feed %s gave an answer without a cursor", f.url)
		}
		f.apply(&ans, cursor == "" || ans.Reset)
		return nil
	}
}

// apply adds the answer's ids, or replaces the set with them for a snapshot.
func (f *RevocationFeed) apply(ans *feedAnswer, replace bool) {
	keepAfter := f.now().Add(-f.retention).Unix()
	var next map[string]int64
	if replace {
		next = make(map[string]int64, len(ans.Revocations))
	} else {
		old := *f.set.Load()
		next = make(map[string]int64, len(old)+len(ans.Revocations))
		for k, v := range old {
			next[k] = v
		}
	}
	for _, r := range ans.Revocations {
		if r.JTI == "" || (r.Exp.set && r.Exp.sec < keepAfter) {
			continue
		}
		exp := int64(1 << 62) // an id without expiry is kept until a reset drops it
		if r.Exp.set {
			exp = r.Exp.sec
		}
		next[r.JTI] = exp
	}
	f.set.Store(&next)
	f.size.Store(int64(len(next)))
	c := *ans.Cursor
	f.cursor.Store(&c)
	f.synced.Store(true)
}

// sweep drops ids whose tokens expired more than Retention ago, at most every 30 s.
func (f *RevocationFeed) sweep() {
	now := f.now()
	if now.Sub(f.lastSweep) < feedSweepInterval && !f.lastSweep.IsZero() {
		return
	}
	f.lastSweep = now
	keepAfter := now.Add(-f.retention).Unix()
	old := *f.set.Load()
	dropped := 0
	for _, exp := range old {
		if exp < keepAfter {
			dropped++
		}
	}
	if dropped == 0 {
		return
	}
	next := make(map[string]int64, len(old)-dropped)
	for k, exp := range old {
		if exp >= keepAfter {
			next[k] = exp
		}
	}
	f.set.Store(&next)
	f.size.Store(int64(len(next)))
}
