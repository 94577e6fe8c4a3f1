package authserver

import (
	"context"
	"time"
)

// dpopProofStorage is what checking a DPoP proof calls (dpop_proof.go): recording the
// proof's jti so it is accepted once on every node sharing the store. It is the client
// assertions' insert-if-absent, with jtis of their own (dpopReplayID).
type dpopProofStorage interface {
	UseClientAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) error
}
