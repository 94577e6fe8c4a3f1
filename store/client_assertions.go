package store

import (
	"context"
	"time"
)

// ClientAssertionStore remembers the ids (jti) of the client assertions the server
// accepted (private_key_jwt, RFC 7523 §3 item 7), so an assertion is accepted once on
// every node sharing the store, not once per node.
type ClientAssertionStore interface {
	// UseClientAssertion records that clientID's assertion jti was accepted and may not
	// be accepted again before expiresAt. It is one atomic insert-if-absent: of two
	// concurrent calls with the same pair, exactly one succeeds. ErrAlreadyUsed if the
	// pair is recorded with an expiry after now; a record expired at now is replaced.
	// ErrNotFound if the client does not exist.
	UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) error
}
