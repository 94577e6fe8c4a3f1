package authserver_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// Revoking an app on the dashboard withdraws its consent once the user has no live token
// left for it, as Passport does: the next authorization asks again. While another token of
// the app lives, the consent stays.
func TestRevokingAnAppsLastTokenWithdrawsItsConsent(t *testing.T) {
	eachStore(t, func(t *testing.T, f *fixture) {
		s := browserSite(t, f, nil)
		a := apiAs(t, s, userEmail, userPass)
		for range 2 { // two live tokens of the web client, one consent
			code := a.codeFor(webQuery())
			if r := s.exchange("web", webSecret, url.Values{"code": {code}, "redirect_uri": {webCB}}); r.Status != http.StatusOK {
				t.Fatalf("exchange: %d %v", r.Status, r.Body)
			}
		}
		skips := func() bool {
			p := a.authorize(webQuery())
			return p.status == http.StatusFound && p.location(t).Query().Get("code") != ""
		}
		if !skips() {
			t.Fatal("the remembered consent was not used")
		}
		var list []tokenOut
		a.call("GET", authserver.PathTokens, nil, nil).into(t, &list)
		var web []string
		for _, tok := range list {
			if tok.ClientID == "web" {
				web = append(web, tok.ID)
			}
		}
		if len(web) != 2 {
			t.Fatalf("tokens of web: %v", list)
		}
		if d := a.call("DELETE", authserver.PathTokens+"/"+web[0], nil, nil); d.status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", d.status, d.raw)
		}
		if !skips() {
			t.Fatal("consent withdrawn while another token of the app lives")
		}
		if d := a.call("DELETE", authserver.PathTokens+"/"+web[1], nil, nil); d.status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", d.status, d.raw)
		}
		if p := a.authorize(webQuery()); p.status != http.StatusOK {
			t.Fatalf("after revoking the app's last token, authorization skipped the prompt: %d %s", p.status, p.header.Get("Location"))
		}
	})
}
