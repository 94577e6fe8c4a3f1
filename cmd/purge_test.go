package cmd_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	oauthcmd "github.com/caddyoauth/caddy-oauth/cmd"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/drivers"
)

// run runs `caddy oauth ...` in-process and returns its output.
func run(t *testing.T, args ...string) string {
	t.Helper()
	c := oauthcmd.NewCommand()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(&out)
	c.SetArgs(args)
	if err := c.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("caddy oauth %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// purgeFixture stores one access token in each state and returns their ids by state.
func purgeFixture(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	if err := st.CreateClient(ctx, &store.Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ids := map[string]string{}
	for _, s := range []struct {
		state   string
		revoke  bool
		expires time.Time
	}{
		{"live", false, now.Add(time.Hour)},
		{"revoked", true, now.Add(time.Hour)},
		{"expired", false, now.Add(-time.Minute)},
	} {
		at := &store.AccessToken{ID: "at-" + s.state, ClientID: "c", ExpiresAt: s.expires}
		rt := &store.RefreshToken{ID: "rt-" + s.state, FamilyID: "f-" + s.state, ClientID: "c", ExpiresAt: s.expires}
		if err := st.CreateAccessToken(ctx, at, rt); err != nil {
			t.Fatal(err)
		}
		if s.revoke {
			if err := st.RevokeAccessToken(ctx, at.ID); err != nil {
				t.Fatal(err)
			}
		}
		ids[s.state] = at.ID
	}
	return ids
}

func remaining(t *testing.T, st store.Store, ids map[string]string) []string {
	t.Helper()
	var left []string
	for _, state := range []string{"live", "revoked", "expired"} {
		_, err := st.GetAccessToken(context.Background(), ids[state])
		switch {
		case err == nil:
			left = append(left, state)
		case !errors.Is(err, store.ErrNotFound):
			t.Fatal(err)
		}
	}
	return left
}

func TestPurgeCommandDeletesWhatItsFlagsSay(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			cases := []struct {
				flags []string
				out   string
				left  string
			}{
				{[]string{"--expired"}, "Purged 2 records.", "live revoked"},
				{[]string{"--revoked"}, "Purged 2 records.", "live expired"},
				{nil, "Purged 4 records.", "live"},
				{[]string{"--revoked", "--expired"}, "Purged 4 records.", "live"},
			}
			for _, c := range cases {
				t.Run(strings.Join(append([]string{"flags"}, c.flags...), " "), func(t *testing.T) {
					dsn := testdb.SQLitePath(t)
					if driver == "postgres" {
						dsn = testdb.PostgresDSN(t)
					}
					st, err := drivers.Open(context.Background(), driver, dsn)
					if err != nil {
						t.Fatal(err)
					}
					defer st.Close()
					ids := purgeFixture(t, st)
					out := run(t, append([]string{"purge", "--storage", driver + ":" + dsn}, c.flags...)...)
					if strings.TrimSpace(out) != c.out {
						t.Errorf("output %q, want %q", out, c.out)
					}
					if got := strings.Join(remaining(t, st, ids), " "); got != c.left {
						t.Errorf("left %q, want %q", got, c.left)
					}
					// The revoked token stays in the revocation log until it expires.
					snap, _, err := st.RevocationSnapshot(context.Background(), time.Now(), 0)
					if err != nil || len(snap) != 1 || snap[0].TokenID != ids["revoked"] {
						t.Errorf("revocation log after purge: %+v %v", snap, err)
					}
				})
			}
		})
	}
}
