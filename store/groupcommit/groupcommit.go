// Package groupcommit lets concurrent callers share one database commit: each call hands
// its item to a queue, a few writer goroutines take every item waiting (up to a bound)
// and write them together, and each caller waits for its own item's verdict. A commit
// costs far more than the rows in it (a WAL flush, a round trip, locking), so under load
// many items share one; a lone caller is not delayed, since an idle writer takes what is
// queued at once and never waits for more. The drivers in store/sqlite and store/postgres
// use it for CreateAccessToken, the write every token request makes; how each writes a
// batch is theirs.
package groupcommit

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Submit after Stop.
var ErrClosed = errors.New("store is closed")

// Request is one queued item with its caller's context. The writer answers it exactly
// once, with Answer.
type Request[T any] struct {
	// Ctx is the caller's context: a writer skips (answers with Ctx.Err()) a request whose
	// context ended before it was written, but must not let it cancel a write shared
	// with other requests.
	Ctx  context.Context
	Item T
	done chan error // buffered, so a writer never waits for its caller
}

// NewRequest makes the request Submit queues for item; a writer's tests build batches
// with it.
func NewRequest[T any](ctx context.Context, item T) *Request[T] {
	return &Request[T]{Ctx: ctx, Item: item, done: make(chan error, 1)}
}

// Answer gives the caller its verdict: nil only once the item is committed.
func (r *Request[T]) Answer(err error) { r.done <- err }

// Verdict waits for the answer a writer gave.
func (r *Request[T]) Verdict() error { return <-r.done }

// Queue gathers requests for its writers.
type Queue[T any] struct {
	queue    chan *Request[T]
	quit     chan struct{}
	done     chan struct{} // closed when every writer has stopped
	stopOnce sync.Once
}

// Start runs writers goroutines, each calling write with up to maxBatch requests at a
// time (at least one); write must answer every request of its batch before returning.
func Start[T any](writers, maxBatch int, write func(batch []*Request[T])) *Queue[T] {
	q := &Queue[T]{queue: make(chan *Request[T], maxBatch), quit: make(chan struct{}), done: make(chan struct{})}
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() { q.run(maxBatch, write) })
	}
	go func() {
		wg.Wait()
		close(q.done)
	}()
	return q
}

func (q *Queue[T]) run(maxBatch int, write func([]*Request[T])) {
	batch := make([]*Request[T], 0, maxBatch)
	for {
		select {
		case r := <-q.queue:
			batch = append(batch[:0], r)
		case <-q.quit:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-q.queue:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		write(batch)
		clear(batch) // drop references to the items
	}
}

// Submit queues item and waits for its verdict.
func (q *Queue[T]) Submit(ctx context.Context, item T) error {
	r := NewRequest(ctx, item)
	select {
	case q.queue <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-q.done:
		return ErrClosed
	}
	// Once queued, wait for the verdict even if ctx ends: a writer skips requests whose
	// context has ended before it writes them, and one it has written may be committed,
	// which the caller must not mistake for a failure.
	select {
	case err := <-r.done:
		return err
	case <-q.done:
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// Stop stops the writers after the batches they are writing, if any. Safe to call more
// than once; later Submits get ErrClosed.
func (q *Queue[T]) Stop() {
	q.stopOnce.Do(func() { close(q.quit) })
	<-q.done
}
