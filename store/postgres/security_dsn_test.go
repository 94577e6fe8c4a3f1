package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store/postgres"
)

// A wrong, unreachable or refused connection string is reported without its password:
// the error reaches Caddy's log and the CLI's one-line message.
func TestOpenErrorsNeverContainThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://app:hunter2-secret@127.0.0.1:1/oauth?connect_timeout=2",                     // nothing listens
		"host=127.0.0.1 port=1 user=app password=hunter2-secret dbname=oauth connect_timeout=2", // keyword/value form
		"postgres://app:hunter2-secret@127.0.0.1:5432/test?sslmode=disable&pool_max_conns=x",    // bad option
		"postgres://nobody:hunter2-secret@127.0.0.1:5432/no_such_db?sslmode=disable",            // refused by the server
		"postgres://app:hunter2-secret@[::1/oauth",                                              // malformed URL
	} {
		st, err := postgres.Open(ctx, dsn)
		if err == nil {
			st.Close()
			t.Errorf("%s: opened", strings.ReplaceAll(dsn, "hunter2-secret", "***"))
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
