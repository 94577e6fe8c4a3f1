package store

import (
	"context"
	"sync"
	"time"
)

// Revocation is one entry of the revocation log: an access token id (the JWT jti) that
// was revoked, and when the token expires, after which nobody needs to remember it.
type Revocation struct {
	// Seq orders the log: it only grows, and an entry becomes visible only after every
	// entry with a smaller Seq is visible, so "everything after Seq n" never misses one.
	Seq       int64
	TokenID   string
	ExpiresAt time.Time
}

// RevocationStore is the revocation log that guards follow to refuse revoked tokens
// without asking the server, and the revocations that feed it.
//
// Every method that revokes access tokens (RevokeAccessToken, RevokeRefreshFamily,
// RevokeOtherTokens, RevokeClient) appends the access tokens it revokes to the log in the
// same transaction, once per token. Purge with Expired deletes entries whose token has expired, but always keeps
// the newest entry, so a cursor the store handed out stays known.
type RevocationStore interface {
	// RevocationsAfter returns up to limit entries with Seq greater than after, in Seq
	// order, and latest, the highest Seq in the log (0 if it is empty), read before the
	// entries: an entry with Seq up to latest is never missing from what follows it.
	RevocationsAfter(ctx context.Context, after int64, limit int) (entries []Revocation, latest int64, err error)
	// RevocationSnapshot returns one entry per revoked token id whose token expires after
	// now, carrying the Seq of that id's newest log entry, in Seq order, at most limit of
	// them (limit <= 0: all), and latest as RevocationsAfter does. When it returns limit
	// entries there may be more: every id left out has a log entry with Seq greater than
	// the last returned one, so RevocationsAfter from that Seq yields the rest.
	RevocationSnapshot(ctx context.Context, now time.Time, limit int) (entries []Revocation, latest int64, err error)
	// RevocationSignal returns a channel closed when an entry may have been added after the
	// call: by this store, or by any process sharing a Postgres database. Take the channel
	// before reading the log, then wait on it, so no entry slips in between.
	RevocationSignal() <-chan struct{}
	// RevocationRecheck is how long a waiter may rely on RevocationSignal alone before it
	// re-reads the log anyway: short where the signal can miss entries (processes sharing
	// one SQLite file do not signal each other), long where it covers every writer and
	// the re-read only guards against a listener stuck without noticing.
	RevocationRecheck() time.Duration
	// RevokeOtherTokens revokes the user's access tokens issued to the client, except
	// keepAccessTokenID and personal access tokens (those with a Name), and the user's
	// refresh tokens of the client except those issued with keepAccessTokenID. It returns
	// the ids of the access tokens it revoked.
	RevokeOtherTokens(ctx context.Context, userID, clientID, keepAccessTokenID string) ([]string, error)
}

// Signal wakes every waiter at once. Drivers use it to implement RevocationSignal.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// Wait returns a channel closed by the next Notify.
func (s *Signal) Wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes everyone waiting.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
