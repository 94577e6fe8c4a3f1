package storetest

import (
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

func newPushedRequest(clientID string) *store.PushedAuthorizationRequest {
	return &store.PushedAuthorizationRequest{
		ID:        newID("par-"),
		ClientID:  clientID,
		Params:    "client_id=" + clientID + "&code_challenge=abc&response_type=code&scope=orders%3Aread",
		CreatedAt: t0,
		ExpiresAt: at(time.Minute),
	}
}

// withPushedRequest stores an unused pushed request of a new client and returns it.
func withPushedRequest(t *testing.T, s store.Store) *store.PushedAuthorizationRequest {
	t.Helper()
	p := newPushedRequest(withClient(t, s))
	wantErr(t, "CreatePushedAuthorizationRequest", s.CreatePushedAuthorizationRequest(t.Context(), p), nil)
	return p
}

func pushedRequestCases() []Case {
	return []Case{
		{"PushedAuthorizationRequestIsFoundByIdWithEveryField", func(t *testing.T, s store.Store) {
			p := withPushedRequest(t, s)
			got, err := s.GetPushedAuthorizationRequest(t.Context(), p.ID)
			wantErr(t, "GetPushedAuthorizationRequest", err, nil)
			same(t, "pushed request", got, p)
			_, err = s.GetPushedAuthorizationRequest(t.Context(), "nope")
			wantErr(t, "GetPushedAuthorizationRequest of a missing one", err, store.ErrNotFound)
		}},
		{"CreatePushedAuthorizationRequestRefusesAnExistingIdAndAMissingClient", func(t *testing.T, s store.Store) {
			p := withPushedRequest(t, s)
			dup := newPushedRequest(p.ClientID)
			dup.ID, dup.Params = p.ID, "other"
			wantErr(t, "create with an existing id", s.CreatePushedAuthorizationRequest(t.Context(), dup), store.ErrConflict)
			got, _ := s.GetPushedAuthorizationRequest(t.Context(), p.ID)
			same(t, "pushed request after the refused duplicate", got, p)
			wantErr(t, "create for a missing client",
				s.CreatePushedAuthorizationRequest(t.Context(), newPushedRequest("no-such-client")), store.ErrNotFound)
		}},
		{"UsePushedAuthorizationRequestSucceedsOnceForItsClientBeforeExpiry", func(t *testing.T, s store.Store) {
			p := withPushedRequest(t, s)
			other := withClient(t, s)
			wantErr(t, "use by another client", s.UsePushedAuthorizationRequest(t.Context(), p.ID, other, at(time.Second)), store.ErrNotFound)
			wantErr(t, "use of a missing one", s.UsePushedAuthorizationRequest(t.Context(), "nope", p.ClientID, at(time.Second)), store.ErrNotFound)
			got, _ := s.GetPushedAuthorizationRequest(t.Context(), p.ID)
			if got.Used {
				t.Fatal("another client's use marked the request used")
			}
			wantErr(t, "use", s.UsePushedAuthorizationRequest(t.Context(), p.ID, p.ClientID, at(time.Second)), nil)
			got, _ = s.GetPushedAuthorizationRequest(t.Context(), p.ID)
			want := *p
			want.Used = true
			same(t, "used pushed request", got, &want)
			wantErr(t, "second use", s.UsePushedAuthorizationRequest(t.Context(), p.ID, p.ClientID, at(2*time.Second)), store.ErrAlreadyUsed)

			expired := newPushedRequest(p.ClientID)
			wantErr(t, "create", s.CreatePushedAuthorizationRequest(t.Context(), expired), nil)
			wantErr(t, "use at expiry", s.UsePushedAuthorizationRequest(t.Context(), expired.ID, p.ClientID, expired.ExpiresAt), store.ErrAlreadyUsed)
			got, _ = s.GetPushedAuthorizationRequest(t.Context(), expired.ID)
			if got.Used {
				t.Fatal("an expired request was marked used")
			}
		}},
		{"ConcurrentUsesOfAPushedAuthorizationRequestHaveExactlyOneWinner", func(t *testing.T, s store.Store) {
			p := withPushedRequest(t, s)
			errs := concurrently(8, func(int) error {
				return s.UsePushedAuthorizationRequest(t.Context(), p.ID, p.ClientID, at(time.Second))
			})
			exactlyOneWinner(t, errs, store.ErrAlreadyUsed)
		}},
		{"PurgeDeletesUsedAndExpiredPushedAuthorizationRequests", func(t *testing.T, s store.Store) {
			client := withClient(t, s)
			mk := func(expires time.Time, used bool) string {
				p := newPushedRequest(client)
				p.CreatedAt, p.ExpiresAt = expires.Add(-time.Minute), expires
				wantErr(t, "CreatePushedAuthorizationRequest", s.CreatePushedAuthorizationRequest(t.Context(), p), nil)
				if used {
					wantErr(t, "UsePushedAuthorizationRequest", s.UsePushedAuthorizationRequest(t.Context(), p.ID, client, p.CreatedAt), nil)
				}
				return p.ID
			}
			live := mk(at(time.Hour), false)
			used := mk(at(time.Hour), true)
			expired := mk(at(-time.Second), false)
			exists := func(id string) bool {
				_, err := s.GetPushedAuthorizationRequest(t.Context(), id)
				return err == nil
			}
			_, err := s.Purge(t.Context(), store.PurgeOptions{Revoked: true, Now: t0})
			wantErr(t, "Purge revoked", err, nil)
			if exists(used) || !exists(live) || !exists(expired) {
				t.Fatalf("after purging revoked: used %v live %v expired %v", exists(used), exists(live), exists(expired))
			}
			_, err = s.Purge(t.Context(), store.PurgeOptions{Expired: true, Now: t0})
			wantErr(t, "Purge expired", err, nil)
			if exists(expired) || !exists(live) {
				t.Fatalf("after purging expired: expired %v live %v", exists(expired), exists(live))
			}
		}},
	}
}
