package caddymodule

import (
	"testing"

	"github.com/caddyoauth/caddy-oauth/authserver"
)

// Internals the external tests (package caddymodule_test) use.

// ValidateJSON provisions a JSON config as `caddy validate` does.
func ValidateJSON(t *testing.T, raw []byte) error { t.Helper(); return validateJSON(t, raw) }

// PoolsEmpty fails the test if a shared resource is still held.
func PoolsEmpty(t *testing.T) { t.Helper(); poolsEmpty(t) }

// WriteJWKS writes the public JWKS of a fresh key and returns its path.
func WriteJWKS(t *testing.T, dir string) string { t.Helper(); return writeJWKS(t, dir) }

// ProvisionedConfig is the protocol server configuration Provision built.
func ProvisionedConfig(s *Server) authserver.Config { return s.config }

// JWTCacheHits adds up the hits of every JWT token cache the guards of this process hold.
func JWTCacheHits() uint64 {
	var n uint64
	cachePool.Range(func(_, v any) bool {
		n += v.(cacheHandle).Hits()
		return true
	})
	return n
}

// IssuedTokenSubscribers counts the token caches the process's oauth_server handlers
// announce new tokens to.
func IssuedTokenSubscribers() int {
	issuedTokens.mu.RLock()
	defer issuedTokens.mu.RUnlock()
	n := 0
	for _, byCache := range issuedTokens.subs {
		n += len(byCache)
	}
	return n
}
