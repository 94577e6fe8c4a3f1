// Command mint writes a JWKS file and access tokens signed exactly as oauth_server signs
// them, for the load script: one token per line.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/caddyoauth/caddy-oauth/keys"
	"github.com/caddyoauth/caddy-oauth/store"
)

func main() {
	n := flag.Int("n", 1, "number of tokens")
	jwksPath := flag.String("jwks", "jwks.json", "where to write the JWKS")
	out := flag.String("out", "tokens.txt", "where to write the tokens")
	issuer := flag.String("issuer", "http://127.0.0.1:9100", "iss of the tokens")
	alg := flag.String("alg", keys.ES256, "signing algorithm")
	flag.Parse()

	rec, err := keys.Generate(*alg, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	ring := &keys.Ring{}
	if err := ring.Load([]*store.SigningKey{rec}, time.Hour, time.Now()); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*jwksPath, ring.JWKS(), 0o644); err != nil {
		log.Fatal(err)
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	now := time.Now().Unix()
	for i := 0; i < *n; i++ {
		claims, _ := json.Marshal(map[string]any{
			"iss": *issuer, "sub": fmt.Sprintf("user-%d", i), "aud": []string{"bench"}, "client_id": "bench",
			"scope": "orders:read orders:write", "jti": fmt.Sprintf("jti-%d", i),
			"iat": now, "nbf": now, "exp": now + 3600,
		})
		tok, err := ring.Signer().Sign(claims)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintln(f, tok)
	}
}
