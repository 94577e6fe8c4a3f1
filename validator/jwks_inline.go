package validator

import (
	"bytes"
	"errors"
	"time"
)

// NewInlineKeySource returns a KeySource holding the keys of a JWK Set document given in
// memory, such as the jwks an OAuth client registered (RFC 7591) for private_key_jwt. It
// applies the same rules as a fetched set (public material only, one algorithm pinned to
// each key, no symmetric keys), never reloads, and needs no Close (calling it is
// harmless). PEM is not accepted here: a registered key set is JSON.
func NewInlineKeySource(data []byte) (*KeySource, error) {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return nil, errors.New("jwks: a key set must be a JSON object")
	}
	ks, err := buildKeySet(data)
	if err != nil {
		return nil, err
	}
	s := &KeySource{
		location: "inline key set",
		minGap:   -1, // nothing to refetch: a miss is final
		now:      time.Now,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	close(s.done)
	s.keys.Store(ks)
	return s, nil
}
