package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/caddyoauth/caddy-oauth/store"
)

// hostileKeys are lookup keys an attacker controls (client ids, emails, cookie and token
// values before hashing): SQL text, NUL, invalid UTF-8, look-alikes and a long value.
var hostileKeys = []string{
	"' OR '1'='1",
	"x' UNION SELECT * FROM clients --",
	`x"; DROP TABLE clients; --`,
	"%",
	"_",
	"*",
	"x\x00",
	"\x00",
	"\xff\xfe",
	"ｘ",
	strings.Repeat("a", 1<<16),
}

// securityCases: every lookup by a caller-controlled key answers store.ErrNotFound for a
// key no row has, whatever its bytes, and never matches a row by pattern, case folding of
// ids, or truncation. A database that cannot even compare the key (PostgreSQL refuses NUL
// and invalid UTF-8) has no row under it either.
func securityCases() []Case {
	return []Case{
		{"LookupsByHostileKeysAreNotFound", func(t *testing.T, s store.Store) {
			ctx := t.Context()
			id := withClient(t, s)
			u := &store.User{ID: newID("user"), Email: "ada@example.com", PasswordHash: "x", CreatedAt: t0}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
			keys := append([]string{strings.ToUpper(id), id + " ", id[:len(id)-1], id + "%"}, hostileKeys...)
			for _, k := range keys {
				if _, err := s.GetClient(ctx, k); err == nil || !isNotFound(err) {
					t.Errorf("GetClient(%.30q): %v, want ErrNotFound", k, err)
				}
				if _, err := s.GetUser(ctx, k); !isNotFound(err) {
					t.Errorf("GetUser(%.30q): %v, want ErrNotFound", k, err)
				}
				if _, err := s.GetUserByEmail(ctx, k); !isNotFound(err) {
					t.Errorf("GetUserByEmail(%.30q): %v, want ErrNotFound", k, err)
				}
				if _, err := s.GetAccessToken(ctx, k); !isNotFound(err) {
					t.Errorf("GetAccessToken(%.30q): %v, want ErrNotFound", k, err)
				}
				if _, err := s.GetRefreshToken(ctx, k); !isNotFound(err) {
					t.Errorf("GetRefreshToken(%.30q): %v, want ErrNotFound", k, err)
				}
				if _, err := s.GetAuthCode(ctx, k); !isNotFound(err) {
					t.Errorf("GetAuthCode(%.30q): %v, want ErrNotFound", k, err)
				}
				if _, err := s.GetSession(ctx, k); !isNotFound(err) {
					t.Errorf("GetSession(%.30q): %v, want ErrNotFound", k, err)
				}
			}
			// The genuine rows are still there.
			if _, err := s.GetClient(ctx, id); err != nil {
				t.Fatalf("GetClient(%q) after the hostile lookups: %v", id, err)
			}
			if _, err := s.GetUserByEmail(ctx, "ada@example.com"); err != nil {
				t.Fatalf("GetUserByEmail after the hostile lookups: %v", err)
			}
		}},
	}
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, store.ErrNotFound) }
