package passwords

import "testing"

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
