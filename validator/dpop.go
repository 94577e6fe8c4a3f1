package validator

import (
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyoauth/caddy-oauth/dpop"
)

// DPoPOptions configure how a Guard checks the proofs of DPoP-bound tokens (RFC 9449
// §7). The guard takes a token bound to a DPoP key (cnf.jkt) only with the DPoP scheme
// and one DPoP header holding a proof signed by that key, for this request's method and
// URL and this token, recent, and not seen before.
type DPoPOptions struct {
	// Window is how far a proof's iat may be from now, either way. Zero: dpop.DefaultWindow
	// (60 s).
	Window time.Duration
	// Replay remembers accepted proofs so each is accepted once; its window must be at
	// least Window. Hosts share one among all their guards (a proof accepted by one must
	// be refused by the others). Nil: the guard makes its own.
	Replay *dpop.ReplayCache
	// Nonces, when set, makes the guard require a nonce it issued in every proof (RFC
	// 9449 §9): a proof without a fresh one is refused with use_dpop_nonce and a new nonce
	// in the DPoP-Nonce header.
	Nonces *dpop.Nonces
	// RequestPath returns the escaped path of the request as the client sent it, before
	// any rewrite by the host (the proof's htu names it). Nil: r.URL.EscapedPath().
	RequestPath func(r *http.Request) string
	// Now overrides the clock; for tests.
	Now func() time.Time
}

// dpopCheck is a Guard's DPoP state.
type dpopCheck struct {
	verifier *dpop.Verifier
	replay   *dpop.ReplayCache
	nonces   *dpop.Nonces
	path     func(r *http.Request) string
	now      func() time.Time
	// nonce is this second's nonce: Nonces.Issue is a function of the second, so one
	// HMAC a second serves every answer that carries a nonce.
	nonce atomic.Pointer[secondNonce]
}

type secondNonce struct {
	unix  int64
	value string
}

func newDPoPCheck(opts DPoPOptions) *dpopCheck {
	d := &dpopCheck{
		verifier: dpop.NewVerifier(dpop.Options{Window: opts.Window}),
		replay:   opts.Replay,
		nonces:   opts.Nonces,
		path:     opts.RequestPath,
		now:      opts.Now,
	}
	if d.replay == nil {
		d.replay = dpop.NewReplayCache(d.verifier.Window(), 0)
	}
	if d.path == nil {
		d.path = func(r *http.Request) string { return r.URL.EscapedPath() }
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Refusals of the DPoP rules, shared so refusing allocates nothing. All answer with a
// DPoP challenge: the token needs that scheme.
var (
	refuseDPoPAsBearer = &Refusal{Kind: InvalidToken, DPoP: true,
		Description: "the token is DPoP-bound: send it with the DPoP scheme and a DPoP proof"}
	refuseUnboundDPoP = &Refusal{Kind: InvalidToken, DPoP: true,
		Description: "the token is not DPoP-bound (no cnf.jkt): send it with the Bearer scheme"}
	refuseProofCount = &Refusal{Kind: InvalidDPoPProof,
		Description: "a DPoP-bound token needs exactly one DPoP header"}
	refuseProofKey = &Refusal{Kind: InvalidDPoPProof,
		Description: "the DPoP proof is not signed by the key the token is bound to"}
	refuseDotSegments = &Refusal{Kind: InvalidDPoPProof,
		Description: "the request path has dot segments: send the path a URL parser makes of it"}
)

// checkBinding applies the token's binding to the request: a DPoP-bound token comes
// with the DPoP scheme and a good proof, a DPoP-scheme token is DPoP-bound, and a
// certificate-bound token comes over TLS with its certificate (cert_binding.go).
func (g *Guard) checkBinding(r *http.Request, token string, id *Identity, dpopScheme bool) error {
	switch {
	case id.jkt != "":
		if !dpopScheme {
			return refuseDPoPAsBearer
		}
		if err := g.dpop.checkProof(r, token, id.jkt); err != nil {
			return err
		}
	case dpopScheme:
		return refuseUnboundDPoP
	}
	if id.x5t != "" && !certificateMatches(r, id.x5t) {
		return refuseCertificate(dpopScheme)
	}
	return nil
}

// checkProof checks the request's one DPoP proof (RFC 9449 §4.3, §7.1) for token, bound
// to the key of thumbprint jkt, and records it as used.
func (d *dpopCheck) checkProof(r *http.Request, token, jkt string) error {
	vals := r.Header["Dpop"]
	if len(vals) != 1 {
		return refuseProofCount
	}
	path := d.path(r)
	if dpop.HasDotSegments(path) {
		// htu is compared normalized; the route this raw path takes may not be.
		return refuseDotSegments
	}
	now := d.now()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	req := dpop.Request{
		Method:      r.Method,
		URL:         dpop.RequestURL(scheme, r.Host, path),
		AccessToken: token,
		Now:         now,
	}
	if d.nonces != nil {
		req.Nonce = func(n string) bool { return d.nonceValid(n, now) }
	}
	p, err := d.verifier.Verify(vals[0], &req)
	if err != nil {
		return d.proofRefusal(err, now)
	}
	if p.JKT != jkt {
		return refuseProofKey
	}
	if err := d.replay.Use(p, now); err != nil {
		if errors.Is(err, dpop.ErrReplayCacheFull) {
			// Failing closed: a proof that cannot be remembered could be replayed.
			return RefuseUnavailable(time.Second, err)
		}
		if errors.Is(err, dpop.ErrKeyOverLimit) {
			// One key's holder sending more proofs than its share: it waits, others
			// go on.
			return RefuseUnavailable(d.verifier.Window(), err)
		}
		return d.proofRefusal(err, now)
	}
	return nil
}

// proofRefusal turns a dpop error into the refusal of its code, with a fresh nonce for
// use_dpop_nonce.
func (d *dpopCheck) proofRefusal(err error, now time.Time) *Refusal {
	var e *dpop.Error
	if !errors.As(err, &e) {
		return &Refusal{Kind: InvalidDPoPProof, Description: "the DPoP proof could not be checked", Err: err}
	}
	if e.Code == dpop.CodeUseNonce && d.nonces != nil {
		return &Refusal{Kind: UseDPoPNonce, Description: e.Description, Nonce: d.currentNonce(now), Err: err}
	}
	return &Refusal{Kind: InvalidDPoPProof, Description: e.Description, Err: err}
}

// nonceValid reports whether n is a nonce of this guard still good at now. The nonce
// handed out this second or the one before (what a busy client sends back) is known
// without its MAC: it was made here a moment ago.
func (d *dpopCheck) nonceValid(n string, now time.Time) bool {
	if cur := d.nonce.Load(); cur != nil && n == cur.value {
		if age := now.Unix() - cur.unix; age >= 0 && age <= 1 {
			return true
		}
	}
	return d.nonces.Valid(n, now)
}

// currentNonce is the nonce of now's second.
func (d *dpopCheck) currentNonce(now time.Time) string {
	sec := now.Unix()
	if n := d.nonce.Load(); n != nil && n.unix == sec {
		return n.value
	}
	n := &secondNonce{unix: sec, value: d.nonces.Issue(now)}
	d.nonce.Store(n)
	return n.value
}

// DPoPNonce is the nonce an answer to a request that passed with a DPoP proof carries in
// its DPoP-Nonce header, so the client's next proof has a fresh one (RFC 9449 §8.2); ""
// when the guard requires no nonces. A new nonce every second, so the client always
// holds one far from the end of its life.
func (g *Guard) DPoPNonce() string {
	if g.dpop.nonces == nil {
		return ""
	}
	return g.dpop.currentNonce(g.dpop.now())
}
