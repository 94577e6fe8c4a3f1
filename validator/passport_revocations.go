package validator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyoauth/caddy-oauth/appdb"
)

// Defaults of PassportRevocationsOptions.
const (
	// DefaultPassportPollInterval is how often the Laravel database is asked for newly
	// revoked tokens: a revocation is refused within about this long (the product's
	// promise is 1 s).
	DefaultPassportPollInterval = 500 * time.Millisecond
	// DefaultPassportFullReadInterval is how often the whole set of revoked, unexpired
	// tokens is read again, catching rows changed without touching updated_at (a raw SQL
	// UPDATE) and dropping rows deleted by passport:purge.
	DefaultPassportFullReadInterval = time.Minute
	// DefaultPassportBehindAfter is how long the database may stay unreachable before
	// OnBehind is told and Behind reports true.
	DefaultPassportBehindAfter = 5 * time.Second
	// passportQueryTimeout bounds one query, so a hung database shows up as behind.
	passportQueryTimeout = 5 * time.Second
	// passportUpdatedSlack re-reads rows updated this long before the newest one seen:
	// Laravel's timestamps have whole seconds, so rows written later in the same second,
	// or committed out of order, are not missed. Ids already known cost nothing.
	passportUpdatedSlack = 2 * time.Second
	// passportClockSkew is how far the Laravel servers' clocks (which write updated_at)
	// may be behind the guard's: each incremental read covers rows updated since the
	// previous read began, minus this, so its index range stays a minute of writes
	// however long ago the last revocation was.
	passportClockSkew = time.Minute
)

// PassportRevocationsOptions configures a PassportRevocations.
type PassportRevocationsOptions struct {
	// DB is the Laravel application's database (appdb.Open); read access to
	// oauth_access_tokens suffices. Required; Close does not close it.
	DB *sql.DB
	// Driver is DB's driver: "mysql", "postgres" or "sqlite" (placeholders and time
	// formats differ). Required.
	Driver string
	// Interval between incremental reads. Zero means DefaultPassportPollInterval.
	Interval time.Duration
	// FullReadInterval between reads of the whole revoked set. Zero means
	// DefaultPassportFullReadInterval.
	FullReadInterval time.Duration
	// BehindAfter: see DefaultPassportBehindAfter.
	BehindAfter time.Duration
	// OnBehind is called once when the database has failed for BehindAfter, with the last
	// error; OnCaughtUp once it answers again, with how long it was out.
	OnBehind   func(out time.Duration, err error)
	OnCaughtUp func(out time.Duration)
	// Now overrides the clock used for expiry; for tests.
	Now func() time.Time
}

// PassportRevocations follows a running Laravel Passport application's revocations
// (oauth_access_tokens.revoked, set by $token->revoke(), logout flows and the like)
// straight from its database, so a token Laravel revokes is refused at the guard within
// about one poll interval, with no call per request. It reads the whole set of revoked,
// unexpired token ids at start and every FullReadInterval, and in between one indexed
// query per Interval for rows whose updated_at moved since the previous read (less a
// minute for the application servers' clocks being behind the guard's):
//
//	SELECT id, expires_at, updated_at FROM oauth_access_tokens
//	WHERE revoked = true AND updated_at >= ?
//
// which needs an index on updated_at to stay cheap on a large table (Passport's migration
// indexes only user_id):
//
//	CREATE INDEX oauth_access_tokens_updated_at_index ON oauth_access_tokens (updated_at);
//
// While the database cannot be reached, ids already known stay refused and other valid
// tokens keep passing (Behind and OnBehind say so): refusing every token while the
// application's database is down would turn a database outage into an API outage, and
// the staleness is bounded by the outage itself. This is the RevocationFeed's policy too.
type PassportRevocations struct {
	db          *sql.DB
	driver      string
	interval    time.Duration
	fullEvery   time.Duration
	behindAfter time.Duration
	onBehind    func(time.Duration, error)
	onCaughtUp  func(time.Duration)
	now         func() time.Time

	// set maps a revoked token id to its expiry (unix seconds; 0 when the row has
	// none). Immutable once published and swapped atomically, as in RevocationFeed: a
	// lookup takes no lock and does not allocate.
	set  atomic.Pointer[map[string]int64]
	size atomic.Int64

	since   time.Time // newest updated_at seen, for the incremental query
	lastOK  atomic.Int64
	failing atomic.Bool
	behind  atomic.Bool
	synced  atomic.Bool

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// NewPassportRevocations checks opts, reads the revoked set once (an error here is not
// fatal: the follower keeps trying, and says it is behind) and follows the database
// until Close.
func NewPassportRevocations(opts PassportRevocationsOptions) (*PassportRevocations, error) {
	if opts.DB == nil {
		return nil, errors.New("passport revocations: no database")
	}
	switch opts.Driver {
	case "mysql", "postgres", "sqlite":
	default:
		return nil, fmt.Errorf("passport revocations: driver %q: must be mysql, postgres or sqlite", opts.Driver)
	}
	p := &PassportRevocations{
		db: opts.DB, driver: opts.Driver,
		interval: opts.Interval, fullEvery: opts.FullReadInterval, behindAfter: opts.BehindAfter,
		onBehind: opts.OnBehind, onCaughtUp: opts.OnCaughtUp, now: opts.Now,
		done: make(chan struct{}),
	}
	if p.interval <= 0 {
		p.interval = DefaultPassportPollInterval
	}
	if p.fullEvery <= 0 {
		p.fullEvery = DefaultPassportFullReadInterval
	}
	if p.behindAfter <= 0 {
		p.behindAfter = DefaultPassportBehindAfter
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.set.Store(&map[string]int64{})
	p.lastOK.Store(time.Now().UnixNano())
	p.failing.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(ctx)
	return p, nil
}

// Revoked reports whether Laravel's database says jti is revoked. No lock, no allocation.
func (p *PassportRevocations) Revoked(jti string) bool {
	_, ok := (*p.set.Load())[jti]
	return ok
}

// Synced reports whether the revoked set has been read at least once.
func (p *PassportRevocations) Synced() bool { return p.synced.Load() }

// Behind reports whether the database has been failing for longer than BehindAfter.
func (p *PassportRevocations) Behind() bool { return p.behind.Load() }

// Lag is how long the database has been failing to answer: zero while reads succeed.
func (p *PassportRevocations) Lag() time.Duration {
	if !p.failing.Load() {
		return 0
	}
	return time.Since(time.Unix(0, p.lastOK.Load()))
}

// Size returns how many revoked ids are kept.
func (p *PassportRevocations) Size() int64 { return p.size.Load() }

// Close stops following the database and waits for the current read to end.
func (p *PassportRevocations) Close() {
	p.closeOnce.Do(func() {
		p.cancel()
		<-p.done
	})
}

func (p *PassportRevocations) run(ctx context.Context) {
	defer close(p.done)
	var lastFull time.Time
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		var err error
		if !p.synced.Load() || time.Since(lastFull) >= p.fullEvery {
			if err = p.readAll(ctx); err == nil {
				lastFull = time.Now()
			}
		} else {
			err = p.readChanged(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		p.report(err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// report keeps the health state and tells OnBehind / OnCaughtUp on a change only, so an
// outage makes two log lines, not one a poll.
func (p *PassportRevocations) report(err error) {
	if err == nil {
		if p.failing.Swap(false) && p.behind.Swap(false) && p.onCaughtUp != nil {
			p.onCaughtUp(time.Since(time.Unix(0, p.lastOK.Load())))
		}
		p.lastOK.Store(time.Now().UnixNano())
		return
	}
	p.failing.Store(true)
	out := time.Since(time.Unix(0, p.lastOK.Load()))
	if out >= p.behindAfter && !p.behind.Swap(true) && p.onBehind != nil {
		p.onBehind(out, err)
	}
}

// readAll replaces the set with every revoked token not yet expired.
func (p *PassportRevocations) readAll(ctx context.Context) error {
	now := p.now()
	rows, err := p.query(ctx, `SELECT id, expires_at, updated_at FROM oauth_access_tokens
		WHERE revoked = $1 AND (expires_at IS NULL OR expires_at > $2)`, true, p.timeArg(now))
	if err != nil {
		return err
	}
	set := make(map[string]int64, len(rows))
	var newest time.Time
	for _, r := range rows {
		set[r.id] = r.exp
		if r.updated.After(newest) {
			newest = r.updated
		}
	}
	// Rows revoked from here on show up in the incremental reads.
	p.since = laterOf(newest, now.Add(-passportClockSkew))
	p.publish(set)
	p.synced.Store(true)
	return nil
}

// readChanged adds the tokens revoked since the newest update seen, and drops expired ids.
func (p *PassportRevocations) readChanged(ctx context.Context) error {
	began := p.now()
	rows, err := p.query(ctx, `SELECT id, expires_at, updated_at FROM oauth_access_tokens
		WHERE revoked = $1 AND updated_at >= $2`, true, p.timeArg(p.since.Add(-passportUpdatedSlack)))
	if err != nil {
		return err
	}
	now := p.now().Unix()
	cur := *p.set.Load()
	var next map[string]int64
	for _, r := range rows {
		if r.updated.After(p.since) {
			p.since = r.updated
		}
		if _, known := cur[r.id]; known || (r.exp != 0 && r.exp <= now) {
			continue
		}
		if next == nil {
			next = make(map[string]int64, len(cur)+len(rows))
			for k, v := range cur {
				next[k] = v
			}
		}
		next[r.id] = r.exp
	}
	if next != nil {
		p.publish(next)
	}
	p.since = laterOf(p.since, began.Add(-passportClockSkew))
	return nil
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (p *PassportRevocations) publish(set map[string]int64) {
	p.set.Store(&set)
	p.size.Store(int64(len(set)))
}

// passportRow is one revoked token row.
type passportRow struct {
	id      string
	exp     int64
	updated time.Time
}

// query runs a query written with $n placeholders on the driver, bounded in time.
func (p *PassportRevocations) query(ctx context.Context, q string, args ...any) ([]passportRow, error) {
	q, order := appdb.Rebind(p.driver, q)
	args = appdb.Args(order, args...)
	qctx, cancel := context.WithTimeout(ctx, passportQueryTimeout)
	defer cancel()
	rows, err := p.db.QueryContext(qctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading oauth_access_tokens: %w", err)
	}
	defer rows.Close()
	var out []passportRow
	for rows.Next() {
		var id string
		var exp, updated any
		if err := rows.Scan(&id, &exp, &updated); err != nil {
			return nil, fmt.Errorf("reading oauth_access_tokens: %w", err)
		}
		r := passportRow{id: id}
		if t, ok := laravelTime(exp); ok {
			r.exp = t.Unix()
		}
		r.updated, _ = laravelTime(updated)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading oauth_access_tokens: %w", err)
	}
	return out, nil
}

// timeArg is a time as Laravel writes it, "Y-m-d H:i:s" with no zone: every driver
// compares that text with Laravel's columns as a time (SQLite keeps them as such text,
// which orders like the times), and no session time zone gets in between.
func (p *PassportRevocations) timeArg(t time.Time) any {
	return t.UTC().Format(laravelTimeLayout)
}

// laravelTimeLayout is how Laravel writes timestamps (in the application's timezone,
// UTC by default, which is what this follower assumes).
const laravelTimeLayout = "2006-01-02 15:04:05"

// laravelTime reads a timestamp column as a driver returns it: time.Time (MySQL with
// parseTime, PostgreSQL), or text / bytes (SQLite, MySQL without parseTime).
func laravelTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case []byte:
		return parseLaravelTime(string(x))
	case string:
		return parseLaravelTime(x)
	}
	return time.Time{}, false
}

func parseLaravelTime(s string) (time.Time, bool) {
	for _, layout := range []string{laravelTimeLayout, time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
