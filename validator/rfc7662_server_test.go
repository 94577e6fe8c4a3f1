package validator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// authServer is a small but faithful authorization server for the guard's protocol
// peers: an RFC 7662 introspection endpoint, a client_credentials token endpoint
// (RFC 6749 §4.4) for the guard's own token, and the revocation feed (see feed.md).
// Callers authenticate by HTTP Basic (form-urlencoded parts, RFC 6749 §2.3.1) or by a
// Bearer token it issued; anyone else gets 401 with a WWW-Authenticate challenge.
type authServer struct {
	*httptest.Server
	t testing.TB

	clientID, secret string
	guardTokenTTL    time.Duration

	mu          sync.Mutex
	tokens      map[string]map[string]any // token -> its RFC 7662 answer (active ones)
	guardTokens map[string]time.Time      // issued bearer tokens -> expiry

	// feed state
	log      []feedEntry // revocation log, seq ascending
	seq      int64
	purgedTo int64 // cursors below this are unknown (reset)
	notify   chan struct{}
	afters   []string // `after` values received, in order

	introspections atomic.Int32
	tokenRequests  atomic.Int32
	feedPolls      atomic.Int32
	// mode makes the introspection endpoint misbehave: "", "garbage", "500", "503",
	// "noactive", "slow".
	mode  atomic.Value
	delay time.Duration
	// feedDown makes the feed answer 503.
	feedDown atomic.Bool
}

type feedEntry struct {
	seq int64
	jti string
	exp int64
}

func newAuthServer(t testing.TB) *authServer {
	t.Helper()
	s := &authServer{
		t:             t,
		clientID:      "guard:edge",
		secret:        "s3cret&=+/",
		guardTokenTTL: time.Hour,
		tokens:        map[string]map[string]any{},
		guardTokens:   map[string]time.Time{},
		notify:        make(chan struct{}),
	}
	s.mode.Store("")
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/introspect", s.introspect)
	mux.HandleFunc("/oauth/token", s.token)
	mux.HandleFunc("/oauth/revocations", s.feed)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *authServer) introspectURL() string { return s.URL + "/oauth/introspect" }
func (s *authServer) tokenURL() string      { return s.URL + "/oauth/token" }
func (s *authServer) feedURL() string       { return s.URL + "/oauth/revocations" }

func (s *authServer) creds() CallerCredentials {
	return CallerCredentials{ClientID: s.clientID, ClientSecret: s.secret}
}

// issue registers an active access token with its claims and returns it.
func (s *authServer) issue(claims map[string]any) string {
	tok := randomToken()
	s.mu.Lock()
	s.tokens[tok] = claims
	s.mu.Unlock()
	return tok
}

// register makes an existing token string (e.g. a JWT) active with claims.
func (s *authServer) register(tok string, claims map[string]any) {
	s.mu.Lock()
	s.tokens[tok] = claims
	s.mu.Unlock()
}

// revoke makes tok inactive and records it in the feed with its jti and exp.
func (s *authServer) revoke(tok string) {
	s.mu.Lock()
	c := s.tokens[tok]
	delete(s.tokens, tok)
	s.mu.Unlock()
	if c != nil {
		jti, _ := c["jti"].(string)
		exp, _ := c["exp"].(int64)
		s.recordRevocation(jti, exp)
	}
}

// recordRevocation appends to the feed and wakes long polls.
func (s *authServer) recordRevocation(jti string, exp int64) {
	s.mu.Lock()
	s.seq++
	s.log = append(s.log, feedEntry{seq: s.seq, jti: jti, exp: exp})
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

// purge forgets log entries up to and including seq, as a purge of old rows would, so
// cursors before it are unknown; the listed jtis are dropped entirely.
func (s *authServer) purge(seq int64, drop ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgedTo = seq
	kept := s.log[:0]
	for _, e := range s.log {
		gone := false
		for _, d := range drop {
			gone = gone || e.jti == d
		}
		if !gone {
			kept = append(kept, e)
		}
	}
	s.log = kept
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// authenticate checks the caller's Basic credentials or Bearer token.
func (s *authServer) authenticate(w http.ResponseWriter, r *http.Request) bool {
	if id, secret, ok := r.BasicAuth(); ok {
		uid, err1 := url.QueryUnescape(id)
		usec, err2 := url.QueryUnescape(secret)
		if err1 == nil && err2 == nil && uid == s.clientID &&
			subtle.ConstantTimeCompare([]byte(usec), []byte(s.secret)) == 1 {
			return true
		}
	} else if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		s.mu.Lock()
		exp, ok := s.guardTokens[h[len("Bearer "):]]
		s.mu.Unlock()
		if ok && time.Now().Before(exp) {
			return true
		}
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
	return false
}

// revokeGuardTokens forgets every bearer token issued to the guard.
func (s *authServer) revokeGuardTokens() {
	s.mu.Lock()
	s.guardTokens = map[string]time.Time{}
	s.mu.Unlock()
}

func (s *authServer) token(w http.ResponseWriter, r *http.Request) {
	s.tokenRequests.Add(1)
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	id, secret, ok := r.BasicAuth()
	uid, _ := url.QueryUnescape(id)
	usec, _ := url.QueryUnescape(secret)
	if !ok || uid != s.clientID || usec != s.secret {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"unsupported_grant_type"}`))
		return
	}
	tok := randomToken()
	s.mu.Lock()
	s.guardTokens[tok] = time.Now().Add(s.guardTokenTTL)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(s.guardTokenTTL / time.Second),
	})
}

func (s *authServer) introspect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if !s.authenticate(w, r) {
		return
	}
	s.introspections.Add(1)
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	switch s.mode.Load().(string) {
	case "garbage":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`<html>oops`))
		return
	case "noactive":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"scope":"read","active":"true"}`))
		return
	case "500":
		w.WriteHeader(http.StatusInternalServerError)
		return
	case "503":
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token") == "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
		return
	}
	s.mu.Lock()
	c, ok := s.tokens[r.PostForm.Get("token")]
	s.mu.Unlock()
	ans := map[string]any{"active": false}
	if ok {
		exp, hasExp := c["exp"].(int64)
		if !hasExp || time.Now().Unix() < exp {
			ans = map[string]any{"active": true}
			for k, v := range c {
				ans[k] = v
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(ans)
}

// feed implements GET /oauth/revocations?after=&wait= per the wire protocol.
func (s *authServer) feed(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if !s.authenticate(w, r) {
		return
	}
	s.feedPolls.Add(1)
	if s.feedDown.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	after := r.URL.Query().Get("after")
	wait := 0
	if v := r.URL.Query().Get("wait"); v != "" {
		var n int
		if _, err := jsonNumber(v, &n); err != nil || n < 0 || n > 30 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		wait = n
	}
	s.mu.Lock()
	s.afters = append(s.afters, after)
	s.mu.Unlock()
	deadline := time.After(time.Duration(wait) * time.Second)
	for {
		s.mu.Lock()
		type item struct {
			JTI string `json:"jti"`
			Exp int64  `json:"exp"`
		}
		items := []item{}
		reset := false
		var cursor int64
		var afterSeq int64 = -1
		if after != "" {
			if _, err := jsonNumber(after, &afterSeq); err != nil || afterSeq < s.purgedTo || afterSeq > s.seq {
				reset, afterSeq = true, -1
			}
		}
		now := time.Now().Unix()
		for _, e := range s.log {
			if afterSeq >= 0 && e.seq <= afterSeq {
				continue
			}
			if afterSeq < 0 && e.exp <= now {
				continue // a snapshot lists only unexpired tokens
			}
			items = append(items, item{e.jti, e.exp})
		}
		cursor = s.seq
		ch := s.notify
		s.mu.Unlock()
		if len(items) > 0 || afterSeq < 0 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"revocations": items, "cursor": jsonItoa(cursor), "reset": reset,
			})
			return
		}
		select {
		case <-ch:
		case <-deadline:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"revocations": []item{}, "cursor": jsonItoa(cursor), "reset": false,
			})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// afterValues returns the cursors the feed was asked to resume from.
func (s *authServer) afterValues() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.afters...)
}

func jsonNumber[T int | int64](s string, out *T) (T, error) {
	err := json.Unmarshal([]byte(s), out)
	return *out, err
}

func jsonItoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
