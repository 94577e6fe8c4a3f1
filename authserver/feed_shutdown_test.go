package authserver_test

import (
	"testing"
	"time"
)

// A server shutting down (a graceful stop or a config reload) answers its held long polls
// at once with nothing new and the same cursor, so the stop does not wait up to 30 s for
// them and the guards reconnect; later long polls do not wait either.
func TestShutdownAnswersHeldFeedLongPollsAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		auth := basic("rs", rsSecret)
		cursor := f.feed("", auth).Cursor
		got := make(chan feed, 1)
		go func() { got <- f.feed("?after="+cursor+"&wait=30", auth) }()
		select {
		case fd := <-got:
			t.Fatalf("the long poll answered before anything happened: %+v", fd)
		case <-time.After(300 * time.Millisecond):
		}
		start := time.Now()
		f.srv.Shutdown()
		select {
		case fd := <-got:
			if fd.Status != 200 || len(fd.Revocations) != 0 || fd.Cursor != cursor || fd.Reset {
				t.Fatalf("answer at shutdown: %+v", fd)
			}
			if waited := time.Since(start); waited > time.Second {
				t.Fatalf("the held long poll took %v to end after Shutdown", waited)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the held long poll was still open 5s after Shutdown")
		}
		f.srv.Shutdown() // a second call is harmless
		start = time.Now()
		if fd := f.feed("?after="+cursor+"&wait=30", auth); fd.Status != 200 || time.Since(start) > time.Second {
			t.Fatalf("a long poll after Shutdown: %+v after %v", fd, time.Since(start))
		}
	})
}
