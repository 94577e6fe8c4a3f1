package authserver_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// A deleted user gets no new tokens: not by refreshing a refresh token issued before the
// deletion (which would otherwise keep minting tokens forever, rotation after rotation),
// nor by exchanging an authorization code issued before it. The refused refresh token's
// family is revoked.
func TestDeletedUserCannotRefreshOrExchangeACode(t *testing.T) {
	rec := &recorded{}
	eachStoreWith(t, rec.configure, func(t *testing.T, f *fixture) {
		rec.mu.Lock()
		rec.events = nil
		rec.mu.Unlock()
		s := browserSite(t, f, nil)
		_, refresh := f.userTokens()
		b := s.browser(t)
		code := b.codeFor(spaQuery())

		if err := f.st.DeleteUser(context.Background(), f.userID); err != nil {
			t.Fatal(err)
		}
		r := f.post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, "app", pwSecret)
		if r.Status != 400 || r.Body["error"] != "invalid_grant" || r.Body["access_token"] != nil {
			t.Fatalf("refresh for a deleted user: %d %v", r.Status, r.Body)
		}
		if rt, err := f.st.GetRefreshToken(context.Background(), authserver.Digest(refresh)); err != nil || !rt.Revoked {
			t.Errorf("the deleted user's refresh token is not revoked: %v %+v", err, rt)
		}
		if !strings.Contains(rec.text(), "reason:user_deleted") {
			t.Errorf("no revocation event says why: %s", rec.text())
		}
		x := s.exchange("spa", "", url.Values{"code": {code}, "redirect_uri": {spaCB}, "code_verifier": {verifier}})
		if x.Status != 400 || x.Body["error"] != "invalid_grant" || x.Body["access_token"] != nil {
			t.Fatalf("code exchange for a deleted user: %d %v", x.Status, x.Body)
		}
	})
}
