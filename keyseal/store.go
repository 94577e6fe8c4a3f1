package keyseal

import (
	"context"
	"fmt"

	"github.com/caddyoauth/caddy-oauth/store"
)

// sealingStore is a store whose signing keys are sealed on the way in and opened on the
// way out; everything else passes through.
type sealingStore struct {
	store.Store
	s *Sealer
}

// Store wraps st so that every signing key written through it is sealed by s and every
// key read is opened. Reading also seals, once, what is stored in the clear or under a
// previous key encryption key (the migration after key_encryption_key is first set, or
// after it is rotated). With s nil nothing is sealed, and a sealed key in the store is an
// error naming it: the server must not start without the key that opens it.
func Store(st store.Store, s *Sealer) store.Store {
	return &sealingStore{Store: st, s: s}
}

func (w *sealingStore) seal(k *store.SigningKey) *store.SigningKey {
	if w.s == nil || k == nil {
		return k
	}
	return w.s.Seal(k)
}

func (w *sealingStore) open(ctx context.Context, k *store.SigningKey) (*store.SigningKey, error) {
	opened, reseal, err := w.s.Open(k)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	if reseal {
		sealed := w.s.Seal(opened)
		// Another node may have sealed it first; either way the store holds a sealed form.
		if _, err := w.Store.ResealSigningKey(ctx, k.ID, k.PrivatePEM, sealed.PrivatePEM); err != nil {
			return nil, fmt.Errorf("signing key %s: encrypting it in the store: %w", k.ID, err)
		}
	}
	return opened, nil
}

// ListSigningKeys lists the keys opened.
func (w *sealingStore) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	list, err := w.Store.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*store.SigningKey, len(list))
	for i, k := range list {
		if out[i], err = w.open(ctx, k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// EnsureSigningKey stores k sealed, if there is no current key, and returns the current
// key opened.
func (w *sealingStore) EnsureSigningKey(ctx context.Context, k *store.SigningKey) (*store.SigningKey, error) {
	cur, err := w.Store.EnsureSigningKey(ctx, w.seal(k))
	if err != nil {
		return nil, err
	}
	return w.open(ctx, cur)
}

// RotateSigningKey stores k sealed as the current key.
func (w *sealingStore) RotateSigningKey(ctx context.Context, k *store.SigningKey) error {
	return w.Store.RotateSigningKey(ctx, w.seal(k))
}

// ReplaceSigningKeys stores k sealed as the only key.
func (w *sealingStore) ReplaceSigningKeys(ctx context.Context, k *store.SigningKey) error {
	return w.Store.ReplaceSigningKeys(ctx, w.seal(k))
}

// ImportPassport imports with Passport's key sealed.
func (w *sealingStore) ImportPassport(ctx context.Context, imp *store.PassportImport) (store.ImportCounts, error) {
	c := *imp
	c.SigningKey = w.seal(imp.SigningKey)
	return w.Store.ImportPassport(ctx, &c)
}
