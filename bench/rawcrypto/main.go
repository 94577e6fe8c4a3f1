// Command rawcrypto prints the CPU time of one raw signature verification and one signing
// per algorithm the server can sign with (RSA-2048 RS256, Ed25519 EdDSA, P-256 ES256):
// the floor the guard's cost of a new token is judged against (bench/guard_cost.sh), and
// what issuance pays per token. Only the standard library's primitives are timed, on a
// token-sized signing input, each for about a second of CPU.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"syscall"
	"time"
)

func main() {
	input := make([]byte, 700) // header and payload of a typical access token
	_, _ = rand.Read(input)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)

	type alg struct {
		name   string
		sign   func() []byte
		verify func(sig []byte) bool
	}
	algs := []alg{
		{"RS256", func() []byte {
			h := sha256.Sum256(input)
			s, _ := rsa.SignPKCS1v15(nil, rsaKey, crypto.SHA256, h[:])
			return s
		}, func(sig []byte) bool {
			h := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(&rsaKey.PublicKey, crypto.SHA256, h[:], sig) == nil
		}},
		{"EdDSA", func() []byte { return ed25519.Sign(edKey, input) },
			func(sig []byte) bool { return ed25519.Verify(edPub, input, sig) }},
		{"ES256", func() []byte {
			h := sha256.Sum256(input)
			s, _ := ecdsa.SignASN1(rand.Reader, ecKey, h[:])
			return s
		}, func(sig []byte) bool {
			h := sha256.Sum256(input)
			return ecdsa.VerifyASN1(&ecKey.PublicKey, h[:], sig)
		}},
	}
	fmt.Printf("%-6s %12s %12s\n", "alg", "verify_us", "sign_us")
	for _, a := range algs {
		sig := a.sign()
		v := perOp(func() {
			if !a.verify(sig) {
				panic("signature did not verify")
			}
		})
		s := perOp(func() { a.sign() })
		fmt.Printf("%-6s %12.1f %12.1f\n", a.name, v, s)
	}
}

// perOp runs f for about a second of this process's CPU time and returns the CPU
// microseconds per call (CPU, not wall time, so a loaded machine does not inflate it).
func perOp(f func()) float64 {
	for range 20 { // warm up
		f()
	}
	start := cpuTime()
	n := 0
	for cpuTime()-start < time.Second {
		for range 20 {
			f()
		}
		n += 20
	}
	return float64(cpuTime()-start) / float64(n) / 1e3
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
