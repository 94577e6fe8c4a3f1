package validator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/caddyoauth/caddy-oauth/dpop"
)

// dpopClient holds a DPoP key and signs proofs with it as a client would, with jwx.
type dpopClient struct {
	priv *ecdsa.PrivateKey
	pub  jwk.Key
	jkt  string
	jtis atomic.Int64
}

func newDPoPClient(t testing.TB) *dpopClient {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	// The thumbprint computed apart from the code under test.
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopClient{priv: priv, pub: pub, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}

// proof signs a proof for method and htu with token's ath, issued at iat, with a new
// jti; changes override claims (nil deletes).
func (c *dpopClient) proof(t testing.TB, method, htu, token string, iat time.Time, changes map[string]any) string {
	t.Helper()
	cl := map[string]any{"jti": "p-" + strconv.FormatInt(c.jtis.Add(1), 10) + "-" + randomToken()[:8],
		"htm": method, "htu": htu, "iat": iat.Unix(), "ath": dpop.AccessTokenHash(token)}
	for k, v := range changes {
		if v == nil {
			delete(cl, k)
		} else {
			cl[k] = v
		}
	}
	payload, err := json.Marshal(cl)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	_ = h.Set("typ", dpop.TokenType)
	_ = h.Set("jwk", c.pub)
	out, err := jws.Sign(payload, jws.WithKey(jwa.ES256, c.priv, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// dpopRequest is a GET of url with `Authorization: DPoP <token>` and the proofs given,
// one DPoP header each.
func dpopRequest(url, token string, proofs ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, url, nil)
	r.Header.Set("Authorization", "DPoP "+token)
	for _, p := range proofs {
		r.Header.Add("DPoP", p)
	}
	return r
}

// dpopGuard is a guard over f's verifier whose DPoP checks run on f's clock.
func (f *guardFixture) dpopGuard(t testing.TB, mutate func(*DPoPOptions)) *Guard {
	t.Helper()
	return f.guard(t, func(o *GuardOptions) {
		o.DPoP.Now = f.clock.now
		if mutate != nil {
			mutate(&o.DPoP)
		}
	})
}

const apiURL = "http://api.test/orders"
