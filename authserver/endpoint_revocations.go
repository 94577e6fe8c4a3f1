package authserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Limits of the revocation feed.
const (
	// feedMaxWait is the longest long poll a caller may ask for, in seconds.
	feedMaxWait = 30
	// feedPage bounds the entries of one answer, snapshot or incremental, so that a
	// million revoked live tokens never make one huge answer (~3 MiB at most). A caller
	// behind by more gets the rest on its next request, which returns at once. It is
	// large because a guard copies its set at every answer: catching up on N entries
	// costs it about N²/(2·feedPage) map insertions.
	feedPage = 50_000
	// feedRecheck is how often a long poll re-reads the log even without a wake-up when
	// the store does not say (store RevocationRecheck <= 0).
	feedRecheck = time.Second
)

// feedEntry is one revoked access token of the feed.
type feedEntry struct {
	ID      string `json:"jti"`
	Expires int64  `json:"exp"`
}

// feedAnswer is the body of GET /oauth/revocations.
type feedAnswer struct {
	Revocations []feedEntry `json:"revocations"`
	Cursor      string      `json:"cursor"`
	Reset       bool        `json:"reset"`
}

// serveRevocations is GET /oauth/revocations, the feed of revoked access token ids that
// guards follow so they can refuse a revoked JWT without asking the server:
//
//   - without after: every revoked token id not yet expired, and a cursor;
//   - with after=<cursor>: the revocations recorded since, in order, and a new cursor;
//     with wait=<seconds> (at most 30) the answer waits for the next revocation when
//     there is none yet, and comes as soon as one is recorded, on any node;
//   - an unknown cursor gets the full list with reset true: the caller replaces its set.
//
// Callers are those of introspection (authenticateResourceServer).
func (s *Server) serveRevocations(w http.ResponseWriter, r *http.Request) {
	if oerr := s.revocations(w, r); oerr != nil {
		s.writeError(w, oerr)
	}
}

// revocations answers the feed, or returns the error to answer instead.
func (s *Server) revocations(w http.ResponseWriter, r *http.Request) *Error {
	if _, oerr := s.authenticateResourceServer(r); oerr != nil {
		return oerr
	}
	q := r.URL.Query()
	wait := 0
	if raw := q.Get("wait"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return errInvalidRequest("wait must be a whole number of seconds, 0 to 30")
		}
		wait = min(n, feedMaxWait)
	}
	ctx := r.Context()
	raw := q.Get("after")
	after, err := strconv.ParseInt(raw, 10, 64)
	if raw == "" || err != nil || after < 0 {
		return s.answerSnapshot(w, r, raw != "")
	}
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	// The store's signal wakes us; the periodic re-read is only its fallback, as often
	// as the store needs (every second on SQLite, ten on Postgres).
	recheck := s.feedStore.RevocationRecheck()
	if recheck <= 0 {
		recheck = feedRecheck
	}
	for {
		// Take the signal before reading, so a revocation between the read and the wait
		// still wakes us.
		signal := s.feedStore.RevocationSignal()
		entries, latest, err := s.feedStore.RevocationsAfter(ctx, after, s.feedPage())
		if err != nil {
			return errUnavailable("reading the revocation log", err)
		}
		if after > latest {
			// A cursor beyond anything recorded is not one of ours (or the log was
			// emptied): start over.
			return s.answerSnapshot(w, r, true)
		}
		remaining := time.Until(deadline)
		if len(entries) > 0 || remaining <= 0 {
			s.answerEntries(w, entries, after)
			return nil
		}
		timer := time.NewTimer(min(remaining, recheck))
		select {
		case <-signal:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-s.closing:
			timer.Stop()
			s.answerEntries(w, nil, after)
			return nil
		}
		timer.Stop()
	}
}

// answerEntries answers the entries after the cursor; expired ones are left out (the
// caller would drop them anyway) but still move the cursor.
func (s *Server) answerEntries(w http.ResponseWriter, entries []store.Revocation, after int64) {
	now := s.now()
	out := feedAnswer{Revocations: make([]feedEntry, 0, len(entries)), Cursor: strconv.FormatInt(after, 10)}
	for _, e := range entries {
		if e.ExpiresAt.After(now) {
			out.Revocations = append(out.Revocations, feedEntry{ID: e.TokenID, Expires: e.ExpiresAt.Unix()})
		}
		out.Cursor = strconv.FormatInt(e.Seq, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

// answerSnapshot answers every revoked token not yet expired, in pages: when there are
// more than a page, the answer holds the oldest page (in log order) and a cursor at its
// last entry, so the caller's next request (after=cursor, which extends its set) brings
// the rest through the incremental path, which holds every id left out (store
// RevocationSnapshot). The wire protocol does not change: a guard that follows cursors
// ends up with the full set, only over several answers.
func (s *Server) answerSnapshot(w http.ResponseWriter, r *http.Request, reset bool) *Error {
	page := s.feedPage()
	entries, latest, err := s.feedStore.RevocationSnapshot(r.Context(), s.now(), page)
	if err != nil {
		return errUnavailable("reading the revocation log", err)
	}
	cursor := latest
	if len(entries) == page {
		cursor = entries[len(entries)-1].Seq
	}
	out := feedAnswer{Revocations: make([]feedEntry, 0, len(entries)), Cursor: strconv.FormatInt(cursor, 10), Reset: reset}
	for _, e := range entries {
		out.Revocations = append(out.Revocations, feedEntry{ID: e.TokenID, Expires: e.ExpiresAt.Unix()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// feedPage is the page size of the feed: feedPage, or the tests' smaller one.
func (s *Server) feedPage() int {
	if s.cfg.feedPage > 0 {
		return s.cfg.feedPage
	}
	return feedPage
}
