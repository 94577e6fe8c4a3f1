package authserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
	"github.com/caddyoauth/caddy-oauth/internal/testdb"
	"github.com/caddyoauth/caddy-oauth/store"
	"github.com/caddyoauth/caddy-oauth/store/postgres"
	"github.com/caddyoauth/caddy-oauth/store/sqlite"
)

// BenchmarkIntrospect measures the introspection endpoint's own cost per request (no
// network): caller authentication, the remembered JWT check and answer, and the
// revocation mirror's lookup (no store read for a token seen before), on
// both stores, for a resource server authenticating with Basic and with its Bearer
// token. Run with -cpu to see how it scales, e.g.
//
//	go test -run '^$' -bench Introspect -cpu 2 ./authserver/
func BenchmarkIntrospect(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			f := newFixture(b, openBenchStore(b, name), nil)
			access, _ := f.userTokens()
			for auth, header := range map[string]string{
				"basic":  basic("rs", rsSecret),
				"bearer": bearer(f.ccToken("rs", rsSecret)),
			} {
				b.Run(auth, func(b *testing.B) {
					body := url.Values{"token": {access}}.Encode()
					b.ReportAllocs()
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							req := httptest.NewRequest(http.MethodPost, authserver.PathIntrospect, strings.NewReader(body))
							req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
							req.Header.Set("Authorization", header)
							w := httptest.NewRecorder()
							f.srv.ServeHTTP(w, req)
							if w.Code != 200 || !strings.Contains(w.Body.String(), `"active":true`) {
								b.Fatalf("introspection: %d %s", w.Code, w.Body)
							}
						}
					})
				})
			}
		})
	}
}

// openBenchStore opens a new store of the named driver ("sqlite" or "postgres") for a
// benchmark.
func openBenchStore(b *testing.B, driver string) store.Store {
	b.Helper()
	var (
		st  store.Store
		err error
	)
	if driver == "postgres" {
		st, err = postgres.Open(context.Background(), testdb.PostgresDSN(b))
	} else {
		st, err = sqlite.Open(context.Background(), testdb.SQLitePath(b))
	}
	if err != nil {
		b.Fatal(err)
	}
	return st
}
