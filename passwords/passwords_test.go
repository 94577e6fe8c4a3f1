package passwords

import (
	"strings"
	"testing"
)

// The hash Laravel's UserFactory ships for the password "password" (bcrypt, cost 10, $2y$).
const laravelBcryptSecret = "$2y$10$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi"

func TestVerifyAcceptsLaravelBcrypt(t *testing.T) {
	ok, err := Verify(laravelBcryptSecret, "password")
	if err != nil || !ok {
		t.Fatalf("Laravel $2y$ hash did not verify: ok=%v err=%v", ok, err)
	}
	ok, err = Verify(laravelBcryptSecret, "Password")
	if err != nil || ok {
		t.Fatalf("wrong password verified: ok=%v err=%v", ok, err)
	}
}

func TestBcryptPrefixesAllVerify(t *testing.T) {
	h, err := Bcrypt{Cost: 4}.Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		hash := prefix + h[4:]
		if ok, err := Verify(hash, "s3cret"); err != nil || !ok {
			t.Errorf("%s hash did not verify: %v", prefix, err)
		}
		if ok, _ := Verify(hash, "s3cret!"); ok {
			t.Errorf("%s hash accepted a wrong password", prefix)
		}
	}
}

func TestArgon2idRoundTrip(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Verify(h, "correct horse"); err != nil || !ok {
		t.Fatalf("own argon2id hash did not verify: %v", err)
	}
	if ok, _ := Verify(h, "correct horsf"); ok {
		t.Fatal("wrong password verified")
	}
}

func TestArgon2idMalformedHashesAreErrors(t *testing.T) {
	for _, h := range []string{
		"$argon2id$v=19$m=65536,t=4,p=1$c29tZQ",
		"$argon2id$v=18$m=65536,t=4,p=1$c29tZXNhbHQ$aGFzaA",
		"$argon2id$v=19$m=99999999,t=4,p=1$c29tZXNhbHQ$aGFzaA",
		"$argon2id$v=19$m=65536,t=4,p=0$c29tZXNhbHQ$aGFzaA",
	} {
		if ok, err := Verify(h, "x"); err == nil || ok {
			t.Errorf("%q: want error, got ok=%v err=%v", h, ok, err)
		}
	}
}

func TestVerifyRejectsUnknownFormat(t *testing.T) {
	if ok, err := Verify("plaintext", "plaintext"); ok || err != ErrUnknownFormat {
		t.Fatalf("plaintext hash: ok=%v err=%v", ok, err)
	}
}

// The decoy's dummy hash follows the cost of the real hashes it saw, so an unknown user
// costs what a wrong password for a real one does.
func TestDecoyMatchesObservedHashShape(t *testing.T) {
	d := NewDecoy("")
	if got := shapeOfDummy(t, d); !strings.HasPrefix(got, "argon2id:") {
		t.Fatalf("initial decoy shape %q, want the default algorithm", got)
	}
	real5, _ := Bcrypt{Cost: 5}.Hash("x")
	d.Observe("$2y$" + real5[4:])
	if got := shapeOfDummy(t, d); got != "bcrypt:5" {
		t.Fatalf("after a cost-5 bcrypt hash the decoy is %q", got)
	}
	real, _ := argonLike("$argon2id$v=19$m=1024,t=3,p=2$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", "y")
	d.Observe(real)
	if got := shapeOfDummy(t, d); got != "argon2id:v=19$m=1024,t=3,p=2$43" {
		t.Fatalf("after an argon2id hash the decoy is %q", got)
	}
	d.Observe("plaintext") // unknown formats do not change the shape
	if got := shapeOfDummy(t, d); got != "argon2id:v=19$m=1024,t=3,p=2$43" {
		t.Fatalf("an unknown format changed the decoy to %q", got)
	}
}

// shapeOfDummy spends once (making the dummy) and returns the shape of the dummy used.
func shapeOfDummy(t *testing.T, d *Decoy) string {
	t.Helper()
	d.Spend("guess")
	d.mu.Lock()
	dummy := d.dummys[d.shape]
	d.mu.Unlock()
	shape, ok := hashShape(dummy)
	if !ok {
		t.Fatalf("dummy %q has no known shape", dummy)
	}
	if ok, _ := Verify(dummy, "guess"); ok {
		t.Fatal("the dummy hash verifies a guess")
	}
	return shape
}
