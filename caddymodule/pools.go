package caddymodule

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// Shared state survives config reloads: a reload that keeps the same storage reuses the
// open pool and key ring, and the last config using one closes it.
var (
	storePool  = caddy.NewUsagePool()
	ringPool   = caddy.NewUsagePool()
	purgerPool = caddy.NewUsagePool()
)

// storeHandle is a pooled open store.
type storeHandle struct{ store.Store }

// Destruct closes the store when no config uses it any more.
func (h storeHandle) Destruct() error { return h.Close() }

// storageKey names a store by its driver and resolved location.
func storageKey(driver, dsn string) string {
	if driver == "sqlite" {
		if abs, err := filepath.Abs(dsn); err == nil {
			dsn = abs
		}
	}
	return driver + ":" + dsn
}

// acquireStore opens the store or reuses the open one; release with storePool.Delete(key).
func acquireStore(ctx context.Context, driver, dsn string) (store.Store, string, error) {
	key := storageKey(driver, dsn)
	val, _, err := storePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		st, err := drivers.Open(ctx, driver, dsn)
		if err != nil {
			return nil, err
		}
		return storeHandle{st}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(storeHandle).Store, key, nil
}

// ringHandle is a pooled key ring kept fresh from the store by a background reload, so a
// rotation on another node or from the CLI reaches this one.
type ringHandle struct {
	ring   *keys.Ring
	cancel context.CancelFunc
	done   chan struct{}
}

// Destruct stops the background reload.
func (h *ringHandle) Destruct() error {
	if h.cancel != nil {
		h.cancel()
		<-h.done
	}
	return nil
}

// keyReloadInterval is how often a ring re-reads the store's keys.
const keyReloadInterval = 30 * time.Second

// acquireRing loads the signing keys (from the store, making one if none exist, or from a
// PEM folder) into a shared ring.
func acquireRing(ctx context.Context, st store.Store, storeKey, keysDir, alg string, retain time.Duration, log *zap.Logger) (*keys.Ring, string, error) {
	key := fmt.Sprintf("%s|%s|%s|%s", storeKey, keysDir, alg, retain)
	val, _, err := ringPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		h := &ringHandle{ring: &keys.Ring{}}
		if keysDir != "" {
			rec, err := keys.LoadDir(keysDir)
			if err != nil {
				return nil, err
			}
			if err := h.ring.Load([]*store.SigningKey{rec}, retain, time.Now()); err != nil {
				return nil, err
			}
			return h, nil
		}
		if err := keys.Bootstrap(ctx, st, h.ring, alg, retain); err != nil {
			return nil, err
		}
		bg, cancel := context.WithCancel(context.Background())
		h.cancel, h.done = cancel, make(chan struct{})
		go func() {
			defer close(h.done)
			t := time.NewTicker(keyReloadInterval)
			defer t.Stop()
			for {
				select {
				case <-bg.Done():
					return
				case <-t.C:
					if err := keys.Reload(bg, st, h.ring, retain); err != nil {
						log.Warn("reloading signing keys; keeping the current ones", zap.Error(err))
					}
				}
			}
		}()
		return h, nil
	})
	if err != nil {
		return nil, "", err
	}
	return val.(*ringHandle).ring, key, nil
}

// purgerHandle is a pooled background purge of one store.
type purgerHandle struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Destruct stops the purger, waiting for a purge in progress to end.
func (h *purgerHandle) Destruct() error {
	h.cancel()
	<-h.done
	return nil
}

// acquirePurger starts, or shares, the goroutine that purges expired records from st
// every interval; release with purgerPool.Delete(key). It is keyed by store and
// interval, so a reload that changes the interval starts a new purger as the old config
// stops its own.
func acquirePurger(st store.Store, storeKey string, every time.Duration, log *zap.Logger) (string, error) {
	key := fmt.Sprintf("%s|purge|%s", storeKey, every)
	_, _, err := purgerPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		ctx, cancel := context.WithCancel(context.Background())
		h := &purgerHandle{cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(h.done)
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					n, err := st.Purge(ctx, store.PurgeOptions{Expired: true})
					if err == nil {
						// Ended login-throttling windows go too, as with caddy oauth purge.
						var m int64
						m, err = st.DeleteExpiredLoginFailures(ctx, time.Now())
						n += m
					}
					switch {
					case err != nil && ctx.Err() == nil:
						log.Warn("purging expired tokens", zap.Error(err))
					case n > 0:
						log.Info("purged expired tokens, codes, revocation log entries and login-throttling windows", zap.Int64("deleted", n))
					}
				}
			}
		}()
		return h, nil
	})
	if err != nil {
		return "", err
	}
	return key, nil
}
