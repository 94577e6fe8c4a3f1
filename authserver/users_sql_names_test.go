package authserver_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/store"
)

// With a username query, the server notices a user deleted from the application's table:
// its refresh token stops working, no personal token is issued to it, and while it
// exists introspection names it (RFC 7662 username). Without one, nothing can tell.
func TestSQLUsersWithUsernamesNoticeDeletedUsers(t *testing.T) {
	eachAppStore(t, func(t *testing.T, f *appFixture) {
		named, err := f.provider.WithUsernames(context.Background(), "SELECT email FROM app_users WHERE id = $1")
		if err != nil {
			t.Fatal(err)
		}
		f.restart(map[string]authserver.UserProvider{"customers": named})
		id := f.addAppUser("Ada", "ada@shop.test", bcryptAs(t, "$2y$", "ada pass"))
		if name, err := named.Username(context.Background(), formatInt(id)); err != nil || name != "ada@shop.test" {
			t.Fatalf("Username: %q %v", name, err)
		}
		if _, err := named.Username(context.Background(), "424242"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
		r := f.passwordGrant("shop", shopSecret, "ada@shop.test", "ada pass")
		if r.Status != 200 {
			t.Fatalf("login: %d %v", r.Status, r.Body)
		}
		if in := f.introspect(r.Body["access_token"].(string), basic("rs", rsSecret)); in.Body["username"] != "ada@shop.test" {
			t.Errorf("introspection username %v", in.Body["username"])
		}
		refresh := r.Body["refresh_token"].(string)
		if _, err := f.appDB.ExecContext(context.Background(), `DELETE FROM app_users WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		rr := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "shop", shopSecret)
		if rr.Status != 400 || rr.Body["error"] != "invalid_grant" {
			t.Fatalf("refresh for a deleted user: %d %v", rr.Status, rr.Body)
		}
		if _, err := f.srv.IssuePersonalToken(context.Background(), formatInt(id), "cli", nil, "customers"); !errors.Is(err, authserver.ErrUnknownUser) {
			t.Fatalf("a personal token for a deleted user: %v, want ErrUnknownUser", err)
		}
	})
}
