// Package storetest is the contract every store.Store driver must meet: one suite, run
// by each driver's tests, so the drivers cannot drift apart. Each case is a subtest whose
// name states the behaviour it checks.
//
// Besides the rules written in store/store.go, the suite pins down the choices the
// drivers share (those written once in store/rules.go among them): times come back in UTC with microsecond precision; empty lists may come
// back nil; a zero CreatedAt is filled with the current time; a refresh token stored
// without an AccessTokenID is linked to the access token issued with it; and issuing a
// token or code to a client that does not exist fails with store.ErrNotFound.
package storetest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

// Case is one behaviour of the contract.
type Case struct {
	Name string                            // the behaviour, as a subtest name
	Test func(t *testing.T, s store.Store) // checks it on a new, empty store
}

// Cases returns every case of the contract, for drivers that want to run a subset.
func Cases() []Case {
	var all []Case
	all = append(all, clientCases()...)
	all = append(all, userCases()...)
	all = append(all, accessTokenCases()...)
	all = append(all, refreshTokenCases()...)
	all = append(all, authCodeCases()...)
	all = append(all, authCodeExchangeCases()...)
	all = append(all, sessionCases()...)
	all = append(all, consentCases()...)
	all = append(all, signingKeyCases()...)
	all = append(all, purgeCases()...)
	all = append(all, loginThrottleCases()...)
	all = append(all, dashboardCases()...)
	all = append(all, revocationCases()...)
	all = append(all, importCases()...)
	all = append(all, deviceCodeCases()...)
	all = append(all, pushedRequestCases()...)
	all = append(all, clientAssertionCases()...)
	all = append(all, securityCases()...)
	all = append(all, Case{"CloseTwiceIsHarmless", func(t *testing.T, s store.Store) {
		// Shutdown paths (Caddy's UsagePool destructor, a CLI defer after an explicit
		// Close) may close a store twice; the second call must neither panic nor fail.
		if err := s.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}})
	return all
}

// Run runs every case as a parallel subtest. open must return a new, empty store on a
// database of its own; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			c.Test(t, s)
		})
	}
}

// t0 is the instant the fixtures are built around; it has microseconds, the precision
// every driver keeps, and is far from the wall clock so no test depends on it.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 123456000, time.UTC)

// at returns t0 moved by d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// newID returns a random id, as the server's ids are.
func newID(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

func newClient(id string) *store.Client {
	return &store.Client{
		ID:                     id,
		Name:                   "Client " + id,
		SecretHash:             "sha256:0123456789abcdef",
		RedirectURIs:           []string{"https://app.example/cb?x=1&y=2", "http://127.0.0.1:8080/callback"},
		PostLogoutRedirectURIs: []string{"https://app.example/signed-out"},
		TokenAuthMethod:        "private_key_jwt",
		JWKS:                   `{"keys":[]}`,
		JWKSURI:                "https://app.example/jwks.json",
		RequirePAR:             true,
		RequireDPoP:            true,
		CertBoundTokens:        true,
		TLSClientAuthAttribute: "subject_dn",
		TLSClientAuthValue:     "CN=app,O=Example",
		Grants:                 []string{"authorization_code", "refresh_token"},
		Provider:               "builtin",
		UserID:                 "owner-1",
		FirstParty:             true,
		Introspect:             true,
		Declarative:            true,
		DeclaredBy:             "https://auth.example",
		CreatedAt:              t0,
		UpdatedAt:              at(time.Minute),
	}
}

func newAccess(clientID, userID string, created time.Time) *store.AccessToken {
	return &store.AccessToken{
		ID:        newID("at-"),
		ClientID:  clientID,
		UserID:    userID,
		Provider:  "builtin",
		Name:      "",
		Scopes:    []string{"openid", "read:users"},
		KeyID:     "kid-1",
		CreatedAt: created,
		ExpiresAt: created.Add(time.Hour),
	}
}

func newRefresh(at *store.AccessToken, familyID string) *store.RefreshToken {
	return &store.RefreshToken{
		ID:             newID("rt-"),
		AccessTokenID:  at.ID,
		FamilyID:       familyID,
		ClientID:       at.ClientID,
		UserID:         at.UserID,
		Provider:       at.Provider,
		Scopes:         at.Scopes,
		CreatedAt:      at.CreatedAt,
		ExpiresAt:      at.CreatedAt.Add(30 * 24 * time.Hour),
		DPoPJKT:        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		CertThumbprint: "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2",
		AuthTime:       at.CreatedAt.Add(-time.Hour).Truncate(time.Second),
	}
}

func newCode(clientID string) *store.AuthCode {
	return &store.AuthCode{
		ID:                  newID("code-"),
		ClientID:            clientID,
		UserID:              "user-1",
		Provider:            "builtin",
		Scopes:              []string{"openid", "profile"},
		RedirectURI:         "https://app.example/cb",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Nonce:               "n-0S6_WzA2Mj",
		DPoPJKT:             "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		AuthTime:            at(-5 * time.Minute).Truncate(time.Second), // kept to the second
		CreatedAt:           t0,
		ExpiresAt:           at(10 * time.Minute),
	}
}

func newKey(id string, created time.Time) *store.SigningKey {
	return &store.SigningKey{
		ID:         id,
		Alg:        "ES256",
		PrivatePEM: []byte("-----BEGIN PRIVATE KEY-----\n" + id + "\n-----END PRIVATE KEY-----\n"),
		CreatedAt:  created,
		Purpose:    store.KeyPurposeAccess,
	}
}

// newIDTokenKey is newKey for the ID-token purpose (RS256).
func newIDTokenKey(id string, created time.Time) *store.SigningKey {
	k := newKey(id, created)
	k.Alg, k.Purpose = "RS256", store.KeyPurposeIDToken
	return k
}

// withClient creates a client for tokens and codes to belong to, and returns its id.
func withClient(t *testing.T, s store.Store) string {
	t.Helper()
	c := newClient(newID("client-"))
	if err := s.CreateClient(t.Context(), c); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	return c.ID
}

// issue stores an access token (and a refresh token in family, unless family is "").
func issue(t *testing.T, s store.Store, clientID, userID, family string, created time.Time) (*store.AccessToken, *store.RefreshToken) {
	t.Helper()
	a := newAccess(clientID, userID, created)
	var r *store.RefreshToken
	if family != "" {
		r = newRefresh(a, family)
	}
	if err := s.CreateAccessToken(t.Context(), a, r); err != nil {
		t.Fatalf("CreateAccessToken: %v", err)
	}
	return a, r
}

// wantErr fails unless errors.Is(err, want) (want nil: err must be nil).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error: %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// same fails the test if got and want differ. Times compare with Equal and must come back
// in UTC; a nil list equals an empty one.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	var diffs []string
	compare("", reflect.ValueOf(got), reflect.ValueOf(want), &diffs)
	if len(diffs) > 0 {
		t.Fatalf("%s differs:\n\t%s", what, strings.Join(diffs, "\n\t"))
	}
}

var timeType = reflect.TypeOf(time.Time{})

func compare(path string, g, w reflect.Value, diffs *[]string) {
	if g.Kind() == reflect.Interface {
		g = g.Elem()
	}
	if w.Kind() == reflect.Interface {
		w = w.Elem()
	}
	if !g.IsValid() || !w.IsValid() {
		if g.IsValid() != w.IsValid() {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %v, want %v", path, g, w))
		}
		return
	}
	switch {
	case g.Type() == timeType:
		gt, wt := g.Interface().(time.Time), w.Interface().(time.Time)
		if !gt.Equal(wt) {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %s, want %s", path, gt.Format(time.RFC3339Nano), wt.Format(time.RFC3339Nano)))
		}
		if gt.Location() != time.UTC {
			*diffs = append(*diffs, fmt.Sprintf("%s: got location %s, want UTC", path, gt.Location()))
		}
	case g.Kind() == reflect.Pointer:
		if g.IsNil() || w.IsNil() {
			if g.IsNil() != w.IsNil() {
				*diffs = append(*diffs, fmt.Sprintf("%s: got %v, want %v", path, g, w))
			}
			return
		}
		compare(path, g.Elem(), w.Elem(), diffs)
	case g.Kind() == reflect.Struct:
		for i := 0; i < g.NumField(); i++ {
			compare(strings.TrimPrefix(path+"."+g.Type().Field(i).Name, "."), g.Field(i), w.Field(i), diffs)
		}
	case g.Kind() == reflect.Slice && g.Type().Elem().Kind() == reflect.Uint8:
		if !bytes.Equal(g.Bytes(), w.Bytes()) {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %q, want %q", path, g.Bytes(), w.Bytes()))
		}
	case g.Kind() == reflect.Slice:
		if g.Len() != w.Len() {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %v, want %v", path, g, w))
			return
		}
		for i := 0; i < g.Len(); i++ {
			compare(fmt.Sprintf("%s[%d]", path, i), g.Index(i), w.Index(i), diffs)
		}
	default:
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			*diffs = append(*diffs, fmt.Sprintf("%s: got %#v, want %#v", path, g.Interface(), w.Interface()))
		}
	}
}

// concurrently runs fn in n goroutines released at the same instant, and returns the
// error each returned.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// exactlyOneWinner fails unless exactly one error is nil and every other one is loser.
func exactlyOneWinner(t *testing.T, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("goroutines %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, loser):
			t.Fatalf("goroutine %d: got error %v, want %v", i, err, loser)
		}
	}
	if winner < 0 {
		t.Fatalf("no goroutine succeeded: %v", errs)
	}
	return winner
}
