package caddymodule

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddyoauth/caddy-oauth/dpop"
	"github.com/caddyoauth/caddy-oauth/validator"
)

// dpopPool shares the DPoP replay cache and nonces among all guards of the process,
// across config reloads, under dpopPoolKey: a proof one guard accepted must be refused by
// every other, whatever their proof windows (the cache is widened to the largest), and a
// nonce one guard issued accepted by all.
var dpopPool = caddy.NewUsagePool()

const dpopPoolKey = "dpop"

// dpopReplayCapacity bounds the guards' replay cache: proofs remembered per generation
// (2 × the proof window). A guard sees a proof per DPoP request, far more than a token
// endpoint, so the dpop default (524,288: about 4,400 proofs a second at a 60 s window)
// would refuse legitimate load; this holds about 35,000 a second. Maps grow as they are
// used, so the memory (about 32 bytes a proof) follows the real rate, and only holders of
// valid bound tokens can add entries (a proof is remembered after every other check).
const dpopReplayCapacity = 1 << 22

// dpopNonceKey is the key nonces are MACed with: made once per process, so nonces stay
// good across reloads and guards, and mean nothing to another process.
var dpopNonceKey = sync.OnceValues(func() ([]byte, error) {
	k := make([]byte, 32)
	_, err := rand.Read(k)
	return k, err
})

// dpopState is a pooled replay cache with the nonces of the process.
type dpopState struct {
	replay *dpop.ReplayCache
	nonces *dpop.Nonces
}

// Destruct has nothing to close: the cache is memory, bounded by time and count
// (dpopReplayCapacity proofs a generation).
func (dpopState) Destruct() error { return nil }

// provisionDPoP takes the shared replay cache, widened to the guard's proof window, and
// turns the options into the validator's.
func (g *Guard) provisionDPoP() (validator.DPoPOptions, error) {
	window := time.Duration(g.DPoPProofWindow)
	if window < 0 {
		return validator.DPoPOptions{}, fmt.Errorf("dpop_proof_window %s: must be positive", window)
	}
	if window == 0 {
		window = dpop.DefaultWindow
	}
	val, _, err := dpopPool.LoadOrNew(dpopPoolKey, func() (caddy.Destructor, error) {
		nonceKey, err := dpopNonceKey()
		if err != nil {
			return nil, fmt.Errorf("making the DPoP nonce key: %w", err)
		}
		nonces, err := dpop.NewNonces(nonceKey, 0)
		if err != nil {
			return nil, err
		}
		return dpopState{replay: dpop.NewReplayCache(window, dpopReplayCapacity), nonces: nonces}, nil
	})
	if err != nil {
		return validator.DPoPOptions{}, err
	}
	g.dpopKey = dpopPoolKey
	st := val.(dpopState)
	st.replay.Widen(window)
	opts := validator.DPoPOptions{Window: window, Replay: st.replay, RequestPath: originalPath}
	if g.DPoPNonce {
		opts.Nonces = st.nonces
	}
	return opts, nil
}

// originalPath is the escaped path of the request as the client sent it: a rewrite
// earlier in the route (uri strip_prefix, handle_path) changes r.URL, not the URL the
// client signed its proof for.
func originalPath(r *http.Request) string {
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && orig.URL != nil {
		return orig.URL.EscapedPath()
	}
	return r.URL.EscapedPath()
}
