package validator

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyoauth/caddy-oauth/internal/certtest"
)

// A certificate-bound token (cnf.x5t#S256, RFC 8705 §3) passes only over a TLS
// connection that presented that certificate: a real TLS server asking for client
// certificates, clients with the right one, another one, and none.
func TestGuardCertificateBoundToken(t *testing.T) {
	f := newGuardFixture(t)
	g := f.dpopGuard(t, nil)
	right, x5t := certtest.ClientCert(t, "right")
	wrong, _ := certtest.ClientCert(t, "wrong")
	tok := f.sign(t, map[string]any{"cnf": map[string]any{"x5t#S256": x5t}})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := g.Check(r); err != nil {
			WriteRefusal(w, err, "api")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	plainSrv := httptest.NewServer(srv.Config.Handler)
	defer plainSrv.Close()

	call := func(url string, cert *tls.Certificate) (int, string) {
		t.Helper()
		client := srv.Client()
		tr := client.Transport.(*http.Transport).Clone()
		if cert != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
		}
		client = &http.Client{Transport: tr}
		req, _ := http.NewRequest(http.MethodGet, url+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	// Three times: verified, then cached, then a cache hit that must keep the binding.
	for range 3 {
		if code, _ := call(srv.URL, &right); code != http.StatusNoContent {
			t.Fatalf("the right certificate: %d", code)
		}
		for name, cert := range map[string]*tls.Certificate{"another certificate": &wrong, "no certificate": nil} {
			code, ch := call(srv.URL, cert)
			if code != http.StatusUnauthorized || ch != `Bearer realm="api", error="invalid_token", error_description="the token is bound to a TLS client certificate this connection did not present"` {
				t.Fatalf("%s: %d %q", name, code, ch)
			}
		}
		if code, _ := call(plainSrv.URL, nil); code != http.StatusUnauthorized {
			t.Fatalf("over plain HTTP: %d", code)
		}
	}
	if f.cache.Hits() == 0 {
		t.Fatal("the certificate-bound token was never a cache hit")
	}
	// A plain token needs no certificate.
	plain := f.sign(t, map[string]any{"jti": "tok-plain"})
	if _, err := g.Check(bearerRequest("Bearer " + plain)); err != nil {
		t.Fatal(err)
	}
}
