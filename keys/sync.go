package keys

import (
	"context"
	"fmt"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Bootstrap makes sure the store holds a current access-token signing key, making one of
// alg if none exists, and a current ID-token key (RS256), making one if none exists
// (several nodes starting at once agree on one of each), then loads the ring from the store.
func Bootstrap(ctx context.Context, ks store.KeyStore, ring *Ring, alg string, retain time.Duration) error {
	if err := EnsureKey(ctx, ks, store.KeyPurposeAccess, alg); err != nil {
		return err
	}
	if err := EnsureKey(ctx, ks, store.KeyPurposeIDToken, IDTokenAlg); err != nil {
		return err
	}
	return Reload(ctx, ks, ring, retain)
}

// EnsureKey makes a current key of alg for purpose if the store has none.
func EnsureKey(ctx context.Context, ks store.KeyStore, purpose, alg string) error {
	list, err := ks.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("listing signing keys: %w", err)
	}
	if hasCurrent(list, purpose) {
		return nil
	}
	rec, err := Generate(alg, time.Now())
	if err != nil {
		return err
	}
	rec.Purpose = purpose
	if _, err := ks.EnsureSigningKey(ctx, rec); err != nil {
		return fmt.Errorf("storing %s signing key: %w", purpose, err)
	}
	return nil
}

// Reload loads the ring from the store, so a rotation made by another node or by
// `caddy oauth keys --rotate` is picked up.
func Reload(ctx context.Context, ks store.KeyStore, ring *Ring, retain time.Duration) error {
	list, err := ks.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("listing signing keys: %w", err)
	}
	return ring.Load(list, retain, time.Now())
}

// Rotate makes a new current key of alg for purpose (store.KeyPurposeAccess,
// store.KeyPurposeIDToken) and retires the old one, which stays published for retain so
// the tokens it signed keep verifying.
func Rotate(ctx context.Context, ks store.KeyStore, alg, purpose string) (*store.SigningKey, error) {
	rec, err := Generate(alg, time.Now())
	if err != nil {
		return nil, err
	}
	rec.Purpose = purpose
	if err := ks.RotateSigningKey(ctx, rec); err != nil {
		return nil, fmt.Errorf("rotating signing key: %w", err)
	}
	return rec, nil
}

func hasCurrent(list []*store.SigningKey, purpose string) bool {
	for _, k := range list {
		if k.RetiredAt == nil && k.KeyPurpose() == purpose {
			return true
		}
	}
	return false
}

// Follow reloads ring from the store every interval until ctx ends, so a rotation made by
// another node or by `caddy oauth keys --rotate` reaches this one within an interval. A
// failed reload keeps the current keys (a database blip must not stop signing) and is
// passed to onError, if set. Follow returns when ctx ends; run it on its own goroutine.
func Follow(ctx context.Context, ks store.KeyStore, ring *Ring, retain, every time.Duration, onError func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := Reload(ctx, ks, ring, retain); err != nil && ctx.Err() == nil && onError != nil {
				onError(err)
			}
		}
	}
}
