// Command dpopload is the load driver of bench/guard_dpop.sh: it mints a DPoP-bound
// access token (and a plain one) signed as oauth_server signs them, then sends a fixed
// number of requests, each DPoP request with a proof of its own, signed before the timed
// part so the load tool's signing does not compete with the guard for the CPU.
//
//	dpopload mint -jwks F -issuer URL -dir D     writes F, D/bearer.txt, D/dpop.txt, D/dpop-key.pem
//	dpopload run -url URL -token F [-dpop-key K] -n N -c C
//
// run prints one line: "requests seconds req/s"; it exits non-zero if any answer is not
// 2xx (a replayed or refused proof would be one).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: dpopload mint|run [flags]")
	}
	switch os.Args[1] {
	case "mint":
		mint(os.Args[2:])
	case "run":
		run(os.Args[2:])
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

// mint writes the JWKS, a DPoP key, a token bound to it and a plain token.
func mint(args []string) {
	fs := flag.NewFlagSet("mint", flag.ExitOnError)
	jwksPath := fs.String("jwks", "jwks.json", "where to write the JWKS")
	issuer := fs.String("issuer", "http://127.0.0.1:9100", "iss of the tokens")
	dir := fs.String("dir", ".", "where to write the tokens and the DPoP key")
	_ = fs.Parse(args)

	rec, err := keys.Generate(keys.ES256, time.Now())
	check(err)
	ring := &keys.Ring{}
	check(ring.Load([]*store.SigningKey{rec}, time.Hour, time.Now()))
	check(os.WriteFile(*jwksPath, ring.JWKS(), 0o644))

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	der, err := x509.MarshalECPrivateKey(key)
	check(err)
	check(os.WriteFile(filepath.Join(*dir, "dpop-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600))

	now := time.Now().Unix()
	for name, cnf := range map[string]any{"bearer.txt": nil, "dpop.txt": map[string]any{"jkt": thumbprint(&key.PublicKey)}} {
		c := map[string]any{
			"iss": *issuer, "sub": "user-1", "aud": []string{"bench"}, "client_id": "bench",
			"scope": "orders:read orders:write", "jti": "jti-" + name,
			"iat": now, "nbf": now, "exp": now + 3600,
		}
		if cnf != nil {
			c["cnf"] = cnf
		}
		claims, _ := json.Marshal(c)
		tok, err := ring.Signer().Sign(claims)
		check(err)
		check(os.WriteFile(filepath.Join(*dir, name), []byte(tok+"\n"), 0o644))
	}
}

// run sends n requests over c connections, as fast as the gateway answers.
func run(args []string) {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	target := fs.String("url", "http://127.0.0.1:9303/orders", "the URL to GET (also the proofs' htu)")
	tokenFile := fs.String("token", "", "file whose first line is the access token")
	keyFile := fs.String("dpop-key", "", "DPoP key (PEM): send the token with the DPoP scheme and a new proof per request")
	n := fs.Int("n", 20000, "requests to send")
	conc := fs.Int("c", 32, "concurrent connections")
	nonce := fs.String("nonce", "", "a guard nonce (dpop_nonce) to put in every proof")
	printNonce := fs.Bool("print-nonce", false, "send one proof without a nonce and print the DPoP-Nonce the guard answers with")
	_ = fs.Parse(args)

	raw, err := os.ReadFile(*tokenFile)
	check(err)
	token := strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0])
	auth := "Bearer " + token
	var proofs []string
	if *keyFile != "" {
		auth = "DPoP " + token
		proofs = signProofs(*keyFile, *target, token, *nonce, *n)
	}
	if *printNonce {
		req, _ := http.NewRequest(http.MethodGet, *target, nil)
		req.Header["Authorization"] = []string{auth}
		req.Header["Dpop"] = []string{proofs[0]}
		resp, err := http.DefaultClient.Do(req)
		check(err)
		resp.Body.Close()
		if resp.Header.Get("DPoP-Nonce") == "" {
			log.Fatalf("no DPoP-Nonce in the answer (%d %s)", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		fmt.Println(resp.Header.Get("DPoP-Nonce"))
		return
	}

	tr := &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc}
	client := &http.Client{Transport: tr}
	var next, bad atomic.Int64
	var firstBad atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, *target, nil)
				req.Header["Authorization"] = []string{auth}
				if proofs != nil {
					req.Header["Dpop"] = []string{proofs[i]}
				}
				resp, err := client.Do(req)
				if err != nil {
					log.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body))
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	fmt.Printf("%d %.3f %.0f\n", *n, secs, float64(*n)/secs)
	if bad.Load() > 0 {
		log.Fatalf("%d answers were not 2xx; the first: %v", bad.Load(), firstBad.Load())
	}
}

// signProofs signs n ES256 proofs for GET htu with token's ath, each with its own jti,
// all issued now (the guard accepts them for its proof window, 60 s by default).
func signProofs(keyFile, htu, token, nonce string, n int) []string {
	raw, err := os.ReadFile(keyFile)
	check(err)
	blk, _ := pem.Decode(raw)
	if blk == nil {
		log.Fatal("dpop key: not PEM")
	}
	key, err := x509.ParseECPrivateKey(blk.Bytes)
	check(err)
	hdr, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": publicJWK(&key.PublicKey)})
	hdrSeg := b64(hdr)
	ath := sha256.Sum256([]byte(token))
	athSeg := b64(ath[:])
	iat := time.Now().Unix()
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	extra := ""
	if nonce != "" {
		extra = `,"nonce":"` + nonce + `"`
	}
	out := make([]string, n)
	for i := range out {
		payload := `{"jti":"` + run + "-" + strconv.Itoa(i) + `","htm":"GET","htu":"` + htu + `","iat":` + strconv.FormatInt(iat, 10) + `,"ath":"` + athSeg + `"` + extra + `}`
		input := hdrSeg + "." + b64([]byte(payload))
		sum := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
		check(err)
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		out[i] = input + "." + b64(sig)
	}
	return out
}

func publicJWK(k *ecdsa.PublicKey) map[string]string {
	return map[string]string{"kty": "EC", "crv": "P-256", "x": b64(pad32(k.X)), "y": b64(pad32(k.Y))}
}

// thumbprint is the RFC 7638 thumbprint of an EC P-256 key: its required members in
// lexicographic order, no spaces.
func thumbprint(k *ecdsa.PublicKey) string {
	j := publicJWK(k)
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + j["x"] + `","y":"` + j["y"] + `"}`))
	return b64(sum[:])
}

func pad32(v *big.Int) []byte { b := make([]byte, 32); v.FillBytes(b); return b }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
