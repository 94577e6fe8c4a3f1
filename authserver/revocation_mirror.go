package authserver

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/store"
)

// RevocationLag bounds how long introspection may answer from memory without having read
// the revocation log: a revocation committed by another node sharing the store (or by
// the CLI) is seen by this node's introspection at most RevocationLag after it commits.
// In practice it is seen at once: on PostgreSQL every node's revocation wakes the log's
// listeners (LISTEN/NOTIFY), and the next introspection re-reads the log first; the
// bound is for a notification that is lost, and for processes sharing one SQLite file,
// which do not notify each other. A revocation made through this server is seen by the
// very next introspection.
const RevocationLag = time.Second

// mirrorReadTimeout bounds one read of the revocation log for the mirror.
const mirrorReadTimeout = 5 * time.Second

// revocationMirror is this server's copy of the revocation log's live entries: the ids
// (jti) of revoked access tokens not yet expired. With it, introspecting an access token
// seen before takes no store read: the token's claims are verified and cached
// (verifiedCache), its record was read at its first introspection, and the only thing
// that can change since, being revoked, is in the log (every revoking store method
// appends the access tokens it revokes, in the same transaction).
//
// The mirror is trusted only while it is fresh: read from the log less than
// RevocationLag ago, with no revocation signalled since (the store's RevocationSignal,
// which fires for this store's revocations and, on PostgreSQL, for every node's), and
// no revocation made through this server since (changed, called synchronously by every
// revoking call of this server, see revocationNotingStore). When it is not fresh, the
// introspection that finds it so reads the log first (the entries after its cursor:
// usually none, one indexed query); if the log cannot be read, introspection reads the
// token's record instead, as it would without the mirror. There is no goroutine: an idle
// server reads nothing.
type revocationMirror struct {
	st store.RevocationStore
	// page is how many entries one read asks for.
	page int
	log  *zap.Logger
	// now is the server's clock, which decides which entries have expired; freshness
	// is measured on the monotonic clock.
	now func() time.Time

	// changes counts revocations made through this server; a read that began before the
	// latest one does not make the mirror fresh.
	changes atomic.Uint64

	// mu guards what introspection reads; readMu makes one request read the log while
	// the others wait for it rather than read it too.
	mu       sync.RWMutex
	ids      map[string]int64 // revoked jti -> exp (Unix seconds)
	loaded   bool             // the snapshot was read, cursor is a log position
	cursor   int64
	readAt   time.Time       // when the last successful read began (monotonic)
	readGen  uint64          // changes when it began
	signal   <-chan struct{} // taken before that read: closed if a revocation came since
	prunedAt time.Time
	readMu   sync.Mutex
	failing  bool // the last read failed (logged once per failure streak)
	// failedAt is when the last read failed: for RevocationLag after it, introspection
	// reads token records without waiting for another try.
	failedAt atomic.Int64
}

// changed records that this server has just revoked tokens: the next introspection
// reads the log before it answers from memory.
func (m *revocationMirror) changed() { m.changes.Add(1) }

// fresh reports whether the mirror may be trusted now. The caller holds mu.
func (m *revocationMirror) fresh() bool {
	if !m.loaded || m.readGen != m.changes.Load() || time.Since(m.readAt) >= RevocationLag {
		return false
	}
	select {
	case <-m.signal:
		return false
	default:
		return true
	}
}

// revoked reports whether the access token id is revoked, as of at most RevocationLag
// ago (at once for revocations made through this server). known is false when the log
// could not be read: the caller must then read the token's record.
func (m *revocationMirror) revoked(ctx context.Context, id string) (revoked, known bool) {
	m.mu.RLock()
	if m.fresh() {
		_, revoked = m.ids[id]
		m.mu.RUnlock()
		return revoked, true
	}
	m.mu.RUnlock()
	if f := m.failedAt.Load(); f != 0 && time.Since(time.Unix(0, f)) < RevocationLag {
		return false, false
	}
	if !m.catchUp(ctx) {
		return false, false
	}
	m.mu.RLock()
	_, revoked = m.ids[id]
	m.mu.RUnlock()
	return revoked, true
}

// catchUp reads the log's new entries unless another request has just done so, and
// reports whether the mirror is fresh enough to answer from: read after the caller
// found it stale. One read at a time; the others wait for it.
func (m *revocationMirror) catchUp(ctx context.Context) bool {
	asked := time.Now()
	m.readMu.Lock()
	defer m.readMu.Unlock()
	m.mu.RLock()
	done := m.fresh() && !m.readAt.Before(asked)
	m.mu.RUnlock()
	if done {
		return true // read while we waited, after we found the mirror stale
	}
	// The waiting requests hang on this read: bound it. A copy read more slowly than this
	// is given up on, and introspection reads token records instead.
	ctx, cancel := context.WithTimeout(ctx, mirrorReadTimeout)
	defer cancel()
	if err := m.read(ctx); err != nil {
		if !m.failing {
			m.log.Warn("reading the revocation log for introspection; reading token records instead", zap.Error(err))
		}
		m.failing = true
		m.failedAt.Store(time.Now().UnixNano())
		return false
	}
	m.failing = false
	m.failedAt.Store(0)
	return true
}

// read brings the mirror up to the log's end. The caller holds readMu. What it reads is
// kept page by page, so a read cut short (a huge first snapshot, a timeout) is carried
// on by the next one; the mirror becomes fresh only when a read reaches the end.
func (m *revocationMirror) read(ctx context.Context) error {
	// Take the signal and the count of local changes before reading, so a revocation
	// committed during the read leaves the mirror stale.
	began, gen, signal := time.Now(), m.changes.Load(), m.st.RevocationSignal()
	now := m.now()
	if !m.loaded {
		entries, latest, err := m.st.RevocationSnapshot(ctx, now, m.page)
		if err != nil {
			return err
		}
		cursor := latest
		if len(entries) == m.page {
			cursor = entries[len(entries)-1].Seq // the rest follows the cursor
		}
		ids := make(map[string]int64, len(entries))
		fill(ids, entries, now)
		m.mu.Lock()
		m.ids, m.cursor, m.loaded = ids, cursor, true
		m.mu.Unlock()
	}
	for {
		entries, latest, err := m.st.RevocationsAfter(ctx, m.cursor, m.page)
		if err != nil {
			return err
		}
		if m.cursor > latest {
			// The log was emptied or replaced (another store behind the same name):
			// start over from a snapshot.
			m.mu.Lock()
			m.loaded, m.ids, m.cursor = false, nil, 0
			m.mu.Unlock()
			return m.read(ctx)
		}
		m.mu.Lock()
		fill(m.ids, entries, now)
		if len(entries) > 0 {
			m.cursor = entries[len(entries)-1].Seq
		}
		m.mu.Unlock()
		if len(entries) < m.page {
			break
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if began.Sub(m.prunedAt) > time.Minute {
		for id, exp := range m.ids {
			if exp <= now.Unix() {
				delete(m.ids, id)
			}
		}
		m.prunedAt = began
	}
	m.readAt, m.readGen, m.signal = began, gen, signal
	return nil
}

// fill adds the entries whose token has not expired.
func fill(ids map[string]int64, entries []store.Revocation, now time.Time) {
	for _, e := range entries {
		if e.ExpiresAt.After(now) {
			ids[e.TokenID] = e.ExpiresAt.Unix()
		}
	}
}

// revocationNotingStore is the store as the server's flows reach it: every method that
// revokes access tokens tells the revocation mirror when it returns, so that the next
// introspection on this node reads the log before answering and sees the revocation at
// once. (It is told even when the call fails: a failed commit may still have committed,
// and reading the log once more costs little.)
type revocationNotingStore struct {
	store.Store
	mirror *revocationMirror
}

func (s revocationNotingStore) RevokeAccessToken(ctx context.Context, id string) error {
	defer s.mirror.changed()
	return s.Store.RevokeAccessToken(ctx, id)
}

func (s revocationNotingStore) RevokeRefreshFamily(ctx context.Context, familyID string) error {
	defer s.mirror.changed()
	return s.Store.RevokeRefreshFamily(ctx, familyID)
}

func (s revocationNotingStore) RevokeOtherTokens(ctx context.Context, userID, clientID, keepAccessTokenID string) ([]string, error) {
	defer s.mirror.changed()
	return s.Store.RevokeOtherTokens(ctx, userID, clientID, keepAccessTokenID)
}

func (s revocationNotingStore) RevokeClient(ctx context.Context, id string) ([]string, error) {
	defer s.mirror.changed()
	return s.Store.RevokeClient(ctx, id)
}

func (s revocationNotingStore) RevokeAuthCodeTokens(ctx context.Context, codeID string) error {
	defer s.mirror.changed()
	return s.Store.RevokeAuthCodeTokens(ctx, codeID)
}

func (s revocationNotingStore) RevokeTokensOf(ctx context.Context, userID, clientID string) ([]string, error) {
	defer s.mirror.changed()
	return s.Store.RevokeTokensOf(ctx, userID, clientID)
}

func (s revocationNotingStore) ImportPassport(ctx context.Context, imp *store.PassportImport) (store.ImportCounts, error) {
	defer s.mirror.changed()
	return s.Store.ImportPassport(ctx, imp)
}
