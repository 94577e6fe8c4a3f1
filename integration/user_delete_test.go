package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

func TestUserDeleteEndsTheUsersBrowserSessions(t *testing.T) {
	eachStore(t, func(t *testing.T, sc storeCase) {
		spec := sc.driver + ":" + sc.dsn
		userID := addUser(t, spec)
		st, err := drivers.Open(context.Background(), sc.driver, sc.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		now := time.Now().UTC()
		mine := &store.Session{ID: "s-mine", UserID: userID, Provider: authserver.DefaultProvider, CSRFToken: "x", ExpiresAt: now.Add(time.Hour)}
		other := &store.Session{ID: "s-other", UserID: "someone-else", Provider: authserver.DefaultProvider, CSRFToken: "y", ExpiresAt: now.Add(time.Hour)}
		for _, s := range []*store.Session{mine, other} {
			if err := st.CreateSession(context.Background(), s); err != nil {
				t.Fatal(err)
			}
		}
		runCLI(t, "", "user", "delete", "--storage", spec, userID)
		if _, err := st.GetSession(context.Background(), mine.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the deleted user's session survived: %v", err)
		}
		if _, err := st.GetSession(context.Background(), other.ID); err != nil {
			t.Errorf("another user's session went too: %v", err)
		}
	})
}
