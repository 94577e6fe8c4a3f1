package validator

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

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
