package storetest

import (
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

func clientCases() []Case {
	return []Case{
		{"CreateClientThenGetClientReturnsEveryField", func(t *testing.T, s store.Store) {
			c := newClient("c1")
			c.Revoked = true // GetClient returns revoked clients too
			wantErr(t, "CreateClient", s.CreateClient(t.Context(), c), nil)
			got, err := s.GetClient(t.Context(), "c1")
			wantErr(t, "GetClient", err, nil)
			same(t, "client", got, newClientRevoked("c1"))
		}},
		{"CreateClientWithEmptyListsAndFalseFlagsRoundTrips", func(t *testing.T, s store.Store) {
			c := &store.Client{ID: "public", Name: "Public", CreatedAt: t0, UpdatedAt: t0}
			wantErr(t, "CreateClient", s.CreateClient(t.Context(), c), nil)
			got, err := s.GetClient(t.Context(), "public")
			wantErr(t, "GetClient", err, nil)
			same(t, "client", got, &store.Client{ID: "public", Name: "Public", CreatedAt: t0, UpdatedAt: t0})
			if got.Confidential() {
				t.Fatal("client without secret hash is confidential")
			}
		}},
		{"CreateClientFillsZeroCreatedAtAndUpdatedAt", func(t *testing.T, s store.Store) {
			before := time.Now().Add(-time.Second)
			c := &store.Client{ID: "c1"}
			wantErr(t, "CreateClient", s.CreateClient(t.Context(), c), nil)
			if c.CreatedAt.Before(before) || c.UpdatedAt.Before(before) {
				t.Fatalf("CreatedAt %v, UpdatedAt %v: not set to now", c.CreatedAt, c.UpdatedAt)
			}
			got, err := s.GetClient(t.Context(), "c1")
			wantErr(t, "GetClient", err, nil)
			same(t, "CreatedAt", got.CreatedAt, c.CreatedAt.Truncate(time.Microsecond))
		}},
		{"CreateClientWithExistingIDFailsWithConflict", func(t *testing.T, s store.Store) {
			wantErr(t, "CreateClient", s.CreateClient(t.Context(), newClient("c1")), nil)
			other := newClient("c1")
			other.Name = "Impostor"
			wantErr(t, "second CreateClient", s.CreateClient(t.Context(), other), store.ErrConflict)
			got, err := s.GetClient(t.Context(), "c1")
			wantErr(t, "GetClient", err, nil)
			same(t, "client", got, newClient("c1"))
		}},
		{"GetClientMissingFailsWithNotFound", func(t *testing.T, s store.Store) {
			_, err := s.GetClient(t.Context(), "nope")
			wantErr(t, "GetClient", err, store.ErrNotFound)
		}},
		{"UpsertClientInsertsMissingClient", func(t *testing.T, s store.Store) {
			wantErr(t, "UpsertClient", s.UpsertClient(t.Context(), newClient("c1")), nil)
			got, err := s.GetClient(t.Context(), "c1")
			wantErr(t, "GetClient", err, nil)
			same(t, "client", got, newClient("c1"))
		}},
		{"UpsertClientReplacesEveryFieldButCreatedAt", func(t *testing.T, s store.Store) {
			wantErr(t, "UpsertClient", s.UpsertClient(t.Context(), newClient("c1")), nil)
			repl := &store.Client{
				ID:           "c1",
				Name:         "Renamed",
				RedirectURIs: []string{"https://other.example/cb"},
				Grants:       []string{"client_credentials"},
				Provider:     "ldap",
				Revoked:      true,
				CreatedAt:    at(time.Hour),
				UpdatedAt:    at(2 * time.Hour),
			}
			wantErr(t, "second UpsertClient", s.UpsertClient(t.Context(), repl), nil)
			want := *repl
			want.CreatedAt = t0 // the original creation time is kept
			same(t, "client passed to UpsertClient", repl, &want)
			got, err := s.GetClient(t.Context(), "c1")
			wantErr(t, "GetClient", err, nil)
			same(t, "client", got, &want)
		}},
		{"ListClientsOrdersByCreationTime", func(t *testing.T, s store.Store) {
			for i, id := range []string{"b", "c", "a"} {
				c := newClient(id)
				c.CreatedAt = at(time.Duration(2-i) * time.Minute) // a first, then c, then b
				wantErr(t, "CreateClient", s.CreateClient(t.Context(), c), nil)
			}
			got, err := s.ListClients(t.Context())
			wantErr(t, "ListClients", err, nil)
			var ids []string
			for _, c := range got {
				ids = append(ids, c.ID)
			}
			same(t, "client ids", ids, []string{"a", "c", "b"})
		}},
		{"ListClientsOnEmptyStoreReturnsNone", func(t *testing.T, s store.Store) {
			got, err := s.ListClients(t.Context())
			wantErr(t, "ListClients", err, nil)
			if len(got) != 0 {
				t.Fatalf("got %d clients, want 0", len(got))
			}
		}},
		{"UpdateClientSecretHashReplacesOnlyTheHash", func(t *testing.T, s store.Store) {
			wantErr(t, "CreateClient", s.CreateClient(t.Context(), newClient("c1")), nil)
			wantErr(t, "UpdateClientSecretHash", s.UpdateClientSecretHash(t.Context(), "c1", "sha256:feed"), nil)
			got, err := s.GetClient(t.Context(), "c1")
			wantErr(t, "GetClient", err, nil)
			want := newClient("c1")
			want.SecretHash = "sha256:feed"
			want.UpdatedAt = got.UpdatedAt // set to the time of the update
			same(t, "client", got, want)
		}},
		{"UpdateClientSecretHashOfMissingClientFailsWithNotFound", func(t *testing.T, s store.Store) {
			wantErr(t, "UpdateClientSecretHash", s.UpdateClientSecretHash(t.Context(), "nope", "sha256:00"), store.ErrNotFound)
		}},
	}
}

func newClientRevoked(id string) *store.Client {
	c := newClient(id)
	c.Revoked = true
	return c
}

func userCases() []Case {
	newUser := func(id, email string, created time.Time) *store.User {
		return &store.User{ID: id, Email: email, PasswordHash: "$argon2id$v=19$" + id, CreatedAt: created}
	}
	return []Case{
		{"CreateUserThenGetUserAndGetUserByEmailReturnIt", func(t *testing.T, s store.Store) {
			u := newUser("u1", "Alice@Example.com", t0)
			wantErr(t, "CreateUser", s.CreateUser(t.Context(), u), nil)
			got, err := s.GetUser(t.Context(), "u1")
			wantErr(t, "GetUser", err, nil)
			same(t, "user", got, newUser("u1", "Alice@Example.com", t0))
			got, err = s.GetUserByEmail(t.Context(), "Alice@Example.com")
			wantErr(t, "GetUserByEmail", err, nil)
			same(t, "user", got, newUser("u1", "Alice@Example.com", t0))
		}},
		{"CreateUserFillsZeroCreatedAt", func(t *testing.T, s store.Store) {
			before := time.Now().Add(-time.Second)
			u := &store.User{ID: "u1", Email: "a@example.com"}
			wantErr(t, "CreateUser", s.CreateUser(t.Context(), u), nil)
			if u.CreatedAt.Before(before) {
				t.Fatalf("CreatedAt %v: not set to now", u.CreatedAt)
			}
		}},
		{"GetUserByEmailIgnoresCase", func(t *testing.T, s store.Store) {
			wantErr(t, "CreateUser", s.CreateUser(t.Context(), newUser("u1", "Alice@Example.com", t0)), nil)
			wantErr(t, "CreateUser", s.CreateUser(t.Context(), newUser("u2", "Élodie@Exemple.fr", t0)), nil)
			for email, id := range map[string]string{
				"alice@example.com": "u1",
				"ALICE@EXAMPLE.COM": "u1",
				"élodie@exemple.fr": "u2",
				"ÉLODIE@EXEMPLE.FR": "u2",
			} {
				got, err := s.GetUserByEmail(t.Context(), email)
				wantErr(t, "GetUserByEmail "+email, err, nil)
				if got.ID != id {
					t.Fatalf("GetUserByEmail %s: got user %s, want %s", email, got.ID, id)
				}
			}
		}},
		{"CreateUserWithExistingIDOrEmailFailsWithConflict", func(t *testing.T, s store.Store) {
			wantErr(t, "CreateUser", s.CreateUser(t.Context(), newUser("u1", "Alice@Example.com", t0)), nil)
			wantErr(t, "CreateUser", s.CreateUser(t.Context(), newUser("u2", "Élodie@Exemple.fr", t0)), nil)
			for _, tc := range []struct{ name, id, email string }{
				{"same id", "u1", "other@example.com"},
				{"same email", "u3", "Alice@Example.com"},
				{"email in lower case", "u3", "alice@example.com"},
				{"email in upper case", "u3", "ALICE@EXAMPLE.COM"},
				{"non-ASCII email in other case", "u3", "élodie@exemple.fr"},
			} {
				err := s.CreateUser(t.Context(), newUser(tc.id, tc.email, t0))
				wantErr(t, "CreateUser with "+tc.name, err, store.ErrConflict)
			}
			users, err := s.ListUsers(t.Context())
			wantErr(t, "ListUsers", err, nil)
			if len(users) != 2 {
				t.Fatalf("got %d users, want 2", len(users))
			}
		}},
		{"GetUserMissingFailsWithNotFound", func(t *testing.T, s store.Store) {
			_, err := s.GetUser(t.Context(), "nope")
			wantErr(t, "GetUser", err, store.ErrNotFound)
			_, err = s.GetUserByEmail(t.Context(), "nobody@example.com")
			wantErr(t, "GetUserByEmail", err, store.ErrNotFound)
		}},
		{"ListUsersOrdersByCreationTime", func(t *testing.T, s store.Store) {
			for i, id := range []string{"b", "c", "a"} {
				u := newUser(id, id+"@example.com", at(time.Duration(2-i)*time.Minute))
				wantErr(t, "CreateUser", s.CreateUser(t.Context(), u), nil)
			}
			got, err := s.ListUsers(t.Context())
			wantErr(t, "ListUsers", err, nil)
			var ids []string
			for _, u := range got {
				ids = append(ids, u.ID)
			}
			same(t, "user ids", ids, []string{"a", "c", "b"})
		}},
		{"DeleteUserRemovesTheUserAndRevokesNothingElse", func(t *testing.T, s store.Store) {
			wantErr(t, "CreateUser", s.CreateUser(t.Context(), newUser("u1", "a@example.com", t0)), nil)
			client := withClient(t, s)
			a, r := issue(t, s, client, "u1", "fam", t0)
			wantErr(t, "DeleteUser", s.DeleteUser(t.Context(), "u1"), nil)
			_, err := s.GetUser(t.Context(), "u1")
			wantErr(t, "GetUser", err, store.ErrNotFound)
			_, err = s.GetUserByEmail(t.Context(), "a@example.com")
			wantErr(t, "GetUserByEmail", err, store.ErrNotFound)
			gotA, err := s.GetAccessToken(t.Context(), a.ID)
			wantErr(t, "GetAccessToken", err, nil)
			gotR, err := s.GetRefreshToken(t.Context(), r.ID)
			wantErr(t, "GetRefreshToken", err, nil)
			if gotA.Revoked || gotR.Revoked {
				t.Fatal("DeleteUser revoked the user's tokens")
			}
			// The email is free again.
			wantErr(t, "CreateUser", s.CreateUser(t.Context(), newUser("u2", "A@example.com", t0)), nil)
		}},
		{"DeleteUserMissingFailsWithNotFound", func(t *testing.T, s store.Store) {
			wantErr(t, "DeleteUser", s.DeleteUser(t.Context(), "nope"), store.ErrNotFound)
		}},
	}
}
