package caddymodule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// Shared state survives config reloads: a reload that keeps the same storage reuses the
// open pool, key ring, application databases and purger, and the last config using one
// closes it.
var (
	storePool  = caddy.NewUsagePool()
	ringPool   = caddy.NewUsagePool()
	purgerPool = caddy.NewUsagePool()
	userDBPool = caddy.NewUsagePool()
)

// keyReloadInterval is how often a pooled ring re-reads the store's keys.
const keyReloadInterval = 30 * time.Second

// pooledResources opens an oauth_server's resources through the usage pools, for
// Provision, and remembers each one it took so that release (at Cleanup) gives back
// exactly those, even after a Provision that failed half-way.
type pooledResources struct {
	logger *zap.Logger
	// held are the pool entries taken, in order.
	held []pooledEntry
}

// pooledEntry is one entry taken from a pool.
type pooledEntry struct {
	pool *caddy.UsagePool
	key  string
	// what names the entry in errors; the key may hold a DSN with a password.
	what string
}

// storeHandle is a pooled open store.
type storeHandle struct{ store.Store }

// Destruct closes the store when no config uses it any more.
func (h storeHandle) Destruct() error { return h.Close() }

// storageKey names a database in a pool by its driver and resolved location.
func storageKey(loc storageLocation) string {
	dsn := loc.dsn
	if loc.driver == drivers.SQLite {
		if abs, err := filepath.Abs(dsn); err == nil {
			dsn = abs
		}
	}
	return loc.driver + ":" + dsn
}

// take loads the pool's entry under key, opening it if no config holds it, and
// remembers it for release.
func (p *pooledResources) take(pool *caddy.UsagePool, key, what string, open func() (caddy.Destructor, error)) (any, error) {
	val, _, err := pool.LoadOrNew(key, open)
	if err != nil {
		return nil, err
	}
	p.held = append(p.held, pooledEntry{pool, key, what})
	return val, nil
}

// openStore opens the store or reuses the open one.
func (p *pooledResources) openStore(ctx context.Context, loc storageLocation) (store.Store, error) {
	val, err := p.take(storePool, storageKey(loc), "storage "+loc.driver, func() (caddy.Destructor, error) {
		st, err := drivers.Open(ctx, loc.driver, loc.dsn)
		if err != nil {
			return nil, err
		}
		return storeHandle{st}, nil
	})
	if err != nil {
		return nil, err
	}
	return val.(storeHandle).Store, nil
}

// ringHandle is a pooled key ring, kept fresh from the store by keys.Follow when the keys
// live there.
type ringHandle struct {
	ring   *keys.Ring
	cancel context.CancelFunc
	done   chan struct{}
}

// Destruct stops following the store.
func (h *ringHandle) Destruct() error {
	if h.cancel != nil {
		h.cancel()
		<-h.done
	}
	return nil
}

// openRing loads the signing keys into a shared ring which, unless they come from a PEM
// folder, follows the store so a rotation elsewhere reaches this node.
func (p *pooledResources) openRing(ctx context.Context, st store.Store, set *serverSettings) (*keys.Ring, error) {
	key := fmt.Sprintf("%s|%s|%s|%s|%s", storageKey(set.storage), set.keysDir, set.signingAlg, set.keyRetention, set.sealer.ID())
	val, err := p.take(ringPool, key, "signing keys", func() (caddy.Destructor, error) {
		ring, err := loadRing(ctx, st, set)
		if err != nil {
			return nil, err
		}
		h := &ringHandle{ring: ring}
		if set.keysDir == "" {
			bg, cancel := context.WithCancel(context.Background())
			h.cancel, h.done = cancel, make(chan struct{})
			go func() {
				defer close(h.done)
				keys.Follow(bg, st, ring, set.keyRetention, keyReloadInterval, func(err error) {
					p.logger.Warn("reloading signing keys; keeping the current ones", zap.Error(err))
				})
			}()
		}
		return h, nil
	})
	if err != nil {
		return nil, err
	}
	return val.(*ringHandle).ring, nil
}

// userDBHandle is a pooled application database.
type userDBHandle struct{ *sql.DB }

// Destruct closes the database when no config uses it any more.
func (h userDBHandle) Destruct() error { return h.Close() }

// openUserDB opens an application database or reuses the open one.
func (p *pooledResources) openUserDB(loc storageLocation) (*sql.DB, error) {
	val, err := p.take(userDBPool, "users:"+storageKey(loc), "user database "+loc.driver, func() (caddy.Destructor, error) {
		db, err := authserver.OpenUserDB(loc.driver, loc.dsn)
		if err != nil {
			return nil, err
		}
		return userDBHandle{db}, nil
	})
	if err != nil {
		return nil, err
	}
	return val.(userDBHandle).DB, nil
}

// purgerHandle is a pooled purge loop of one store.
type purgerHandle struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Destruct stops the purge loop, waiting for a purge in progress to end.
func (h *purgerHandle) Destruct() error {
	h.cancel()
	<-h.done
	return nil
}

// startPurger starts, or shares, the loop that purges expired records from st every
// interval. It is keyed by store and interval, so a reload that changes the interval
// starts a new loop as the old config stops its own.
func (p *pooledResources) startPurger(st store.Store, loc storageLocation, every time.Duration) error {
	_, err := p.take(purgerPool, fmt.Sprintf("%s|purge|%s", storageKey(loc), every), "purger", func() (caddy.Destructor, error) {
		ctx, cancel := context.WithCancel(context.Background())
		h := &purgerHandle{cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(h.done)
			store.PurgeExpiredEvery(ctx, st, every, func(n int64, err error) {
				switch {
				case err != nil:
					p.logger.Warn("purging expired tokens", zap.Error(err))
				case n > 0:
					p.logger.Info("purged expired tokens, codes, revocation log entries and login-throttling windows", zap.Int64("deleted", n))
				}
			})
		}()
		return h, nil
	})
	return err
}

// release gives back every entry taken, the last taken first (the purger and the ring
// use the store), and goes on past a failure so nothing stays held.
func (p *pooledResources) release() error {
	var errs []error
	for i := len(p.held) - 1; i >= 0; i-- {
		e := p.held[i]
		if _, err := e.pool.Delete(e.key); err != nil {
			errs = append(errs, fmt.Errorf("releasing %s: %w", e.what, err))
		}
	}
	p.held = nil
	return errors.Join(errs...)
}
