package caddymodule

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddyoauth/caddy-oauth/internal/laravel"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// passport_revocations: values checked at provisioning with the option's name and never
// the DSN; guards with the same database share one follower, and the last one to go
// releases it.
func TestGuardPassportRevocationsProvisioning(t *testing.T) {
	f := newGuardFixture(t)
	for _, c := range []struct {
		pc   PassportRevocationsConfig
		want string
	}{
		{PassportRevocationsConfig{Driver: "oracle", DSN: "x"}, `passport_revocations: driver "oracle"`},
		{PassportRevocationsConfig{Driver: "mysql", DSN: "{env.PASSPORT_TEST_UNSET}"}, "passport_revocations mysql: a database is required"},
		{PassportRevocationsConfig{Driver: "mysql", DSN: "mysql://u:s3cret@h/db", Interval: -1}, "interval must not be negative"},
		{PassportRevocationsConfig{Driver: "mysql", DSN: "mysql://u:s3cret@h"}, "passport_revocations mysql"},
	} {
		pc := c.pc
		g := &Guard{JWKS: f.jwks, Issuer: guardIssuer, PassportRevocations: &pc}
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := g.Provision(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%+v: err = %v, want %q and no secret", c.pc, err, c.want)
		}
	}
	poolsEmpty(t)

	path := testdb.SQLitePath(t)
	w, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := laravel.CreateSchema(context.Background(), w, laravel.SQLite); err != nil {
		t.Fatal(err)
	}
	mk := func() *Guard {
		return &Guard{JWKS: f.jwks, Issuer: guardIssuer, PassportRevocations: &PassportRevocationsConfig{
			Driver: "sqlite", DSN: path, Interval: caddy.Duration(100 * time.Millisecond)}}
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a, b := mk(), mk()
	for _, g := range []*Guard{a, b} {
		if err := g.Provision(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if a.passport == nil || a.passport != b.passport {
		t.Fatal("two guards on one database do not share the follower")
	}
	// The follower's state is in the feed metrics, labelled by driver (never the DSN).
	families, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, fam := range families {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "feed" && l.GetValue() == "passport:sqlite" {
					found[fam.GetName()] = true
				}
			}
		}
	}
	for _, name := range []string{"caddy_oauth_guard_revocation_feed_behind", "caddy_oauth_guard_revocation_feed_lag_seconds", "caddy_oauth_guard_revoked_ids"} {
		if !found[name] {
			t.Errorf("no %s{feed=\"passport:sqlite\"} series (found %v)", name, found)
		}
	}
	_ = a.Cleanup()
	_ = b.Cleanup()
	poolsEmpty(t)
}
