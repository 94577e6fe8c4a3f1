package authserver

import (
	"context"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// revocationFeedStorage is what the revocation feed calls (endpoint_revocations.go): the
// revocation log, read in pages, and its wake-up signal for long polls.
type revocationFeedStorage interface {
	RevocationsAfter(ctx context.Context, after int64, limit int) (entries []store.Revocation, latest int64, err error)
	RevocationSnapshot(ctx context.Context, now time.Time, limit int) (entries []store.Revocation, latest int64, err error)
	RevocationSignal() <-chan struct{}
	RevocationRecheck() time.Duration
}
