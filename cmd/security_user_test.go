package cmd

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jws"
)

// Deleting a user revokes every token issued to them, personal access tokens included, so
// the server's introspection and the guards' revocation feed stop honouring them at once
// instead of at their expiry (a year, for a personal token).
func TestUserDeleteRevokesTheUsersTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, s storeSpec) {
		mustRun(t, "", "install", "--storage", s.flag())
		ada := strings.TrimSpace(mustRun(t, "a long password\n", "user", "add", "--storage", s.flag(), "--email", "ada@example.com", "--password-stdin"))
		bob := strings.TrimSpace(mustRun(t, "another password\n", "user", "add", "--storage", s.flag(), "--email", "bob@example.com", "--password-stdin"))
		adaTok, _ := personalToken(t, s, ada)
		bobTok, _ := personalToken(t, s, bob)
		mustRun(t, "", "user", "delete", "--storage", s.flag(), ada)

		st := openStore(t, s)
		for who, tok := range map[string]string{"ada": adaTok, "bob": bobTok} {
			msg, err := jws.Parse([]byte(tok))
			if err != nil {
				t.Fatal(err)
			}
			var claims struct {
				ID string `json:"jti"`
			}
			if err := json.Unmarshal(msg.Payload(), &claims); err != nil {
				t.Fatal(err)
			}
			rec, err := st.GetAccessToken(t.Context(), claims.ID)
			if err != nil {
				t.Fatalf("%s's token: %v", who, err)
			}
			if want := who == "ada"; rec.Revoked != want {
				t.Errorf("%s's token revoked = %v, want %v", who, rec.Revoked, want)
			}
		}
	})
}
