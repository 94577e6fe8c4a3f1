package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/caddyoauth/caddy-oauth/internal/testdb"
)

// nodeServerSite is an oauth_server site of one node of a cluster sharing dsn.
func nodeServerSite(port int, issuer, dsn string) string {
	return fmt.Sprintf(`
http://127.0.0.1:%d {
	oauth_server {
		issuer %s
		storage postgres %q
		scope orders:read Read your orders
		default_scope orders:read
		client svc {
			secret %s
			grants client_credentials
		}
	}
}
`, port, issuer, dsn, svcSecret)
}

const processGlobals = "{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n"

// TestNodesStartingTogetherOnEmptyPostgresShareOneKey starts two Caddy processes with
// oauth_server on the same empty database at the same instant: migrations and key
// creation race, and exactly one signing key must come out of it, with no error, so a
// token signed by either node verifies against the other's JWKS.
func TestNodesStartingTogetherOnEmptyPostgresShareOneKey(t *testing.T) {
	dsn := testdb.PostgresDSN(t)
	if _, err := caddyBinary(); err != nil {
		t.Fatal(err)
	}
	portA, portB, guardPort := freePort(t), freePort(t), freePort(t)
	issuer := "http://cluster.example"
	up := newUpstream(t)
	a := startCaddyProcess(t, "node A", processGlobals+nodeServerSite(portA, issuer, dsn))
	b := startCaddyProcess(t, "node B", processGlobals+nodeServerSite(portB, issuer, dsn)+fmt.Sprintf(`
http://127.0.0.1:%d {
	oauth_guard {
		jwks http://127.0.0.1:%d/.well-known/jwks.json
		issuer %s
		scopes all orders:read
	}
	reverse_proxy %s
}
`, guardPort, portA, issuer, strings.TrimPrefix(up.URL, "http://")))
	a.waitListening(t, fmt.Sprintf("127.0.0.1:%d", portA))
	b.waitListening(t, fmt.Sprintf("127.0.0.1:%d", portB))
	b.waitListening(t, fmt.Sprintf("127.0.0.1:%d", guardPort))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var keysInStore int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM signing_keys`).Scan(&keysInStore); err != nil {
		t.Fatal(err)
	}
	// One access-token key and one ID-token key.
	if keysInStore != 2 {
		t.Fatalf("the store holds %d signing keys after a simultaneous start, want 2", keysInStore)
	}

	kidsA, kidsB := jwksKids(t, portA), jwksKids(t, portB)
	if len(kidsA) != 2 || strings.Join(kidsA, ",") != strings.Join(kidsB, ",") {
		t.Fatalf("nodes publish different keys: A %v, B %v", kidsA, kidsB)
	}

	// A token node B signs passes a guard that knows only node A's key set.
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: svcSecret, AuthStyle: oauth2.AuthStyleInHeader,
		TokenURL: fmt.Sprintf("http://127.0.0.1:%d/oauth/token", portB)}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("token from node B: %v", err)
	}
	if r := call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/orders", guardPort), tok.AccessToken, nil); r.status != 200 {
		t.Fatalf("guard refused node B's token against node A's keys: %d %v", r.status, r.body)
	}

	for name, p := range map[string]*caddyProcess{"A": a, "B": b} {
		if out := p.output(); strings.Contains(out, `"level":"error"`) || strings.Contains(out, `"level":"fatal"`) {
			t.Errorf("node %s logged an error during a simultaneous start:\n%s", name, out)
		}
	}
}

// jwksKids returns the kids a node publishes.
func jwksKids(t *testing.T, port int) []string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/.well-known/jwks.json", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}
