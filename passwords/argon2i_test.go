package passwords

import (
	"strings"
	"testing"
)

// phpVectors were made with PHP 8.2's password_hash (libargon2, Debian's php8.2-cli):
// PASSWORD_ARGON2I is what Laravel's `argon` driver calls, PASSWORD_ARGON2ID its
// `argon2id` driver. The first of each uses PHP's (and Laravel's) default parameters.
var phpVectors = []struct{ password, hash string }{
	{"password", "$argon2i$v=19$m=65536,t=4,p=1$cVJkei5xay5NamRpNmlPeg$M2Qv164J9/KYIHbZ1vg97jbZks07Ch+yf2wGq6SIYTQ"},
	{"secret pass", "$argon2i$v=19$m=1024,t=2,p=1$YUp1d0w3MTdQREhud21jaA$a616gxCKDJRW4nbesJS4+9hk4X+Nk92IQZHAd9U80dU"},
	{"secret pass", "$argon2i$v=19$m=2048,t=3,p=2$L2NLYW1Sd2M2Y3VqeTgyLw$dtbA4tcIfQQFYIjEc0YE33tQFoN0KnVZADzX1ChV7yc"},
	{"pässwörd ünicode", "$argon2i$v=19$m=1024,t=1,p=1$WTZtTVBQT0FQbE0uSWxsSg$f97/K3OIPZp78OxBbVUS8fJoryPRzAQ8QhpoNC6Yg2A"},
	{"password", "$argon2id$v=19$m=65536,t=4,p=1$bWxhUU13SVM4RnRma2hXdw$fMef9hnyn6+0qa1j13R72Qehw1JNiIGITjydaxNonNs"},
	{"secret pass", "$argon2id$v=19$m=1024,t=2,p=2$SDRHbHRjd1pRdmFlQWcwVw$LdCJ4LepGBRZAHq0t4PpGudYPmrLOcNXpuMV4LxBGDg"},
	{"password", "$2y$04$1wXv7q.s9BcrqeM22Mq9ROhU/FcCLV.HCRq6eDuF6W5jmQMFpgo92"},
}

func TestVerifyAcceptsHashesAsPHPWritesThem(t *testing.T) {
	for _, v := range phpVectors {
		if ok, err := Verify(v.hash, v.password); err != nil || !ok {
			t.Errorf("%s: did not verify: ok=%v err=%v", v.hash[:12], ok, err)
		}
		for _, wrong := range []string{v.password + "x", strings.ToUpper(v.password), "", v.password[:len(v.password)-1]} {
			if ok, err := Verify(v.hash, wrong); err != nil || ok {
				t.Errorf("%s: accepted %q: ok=%v err=%v", v.hash[:12], wrong, ok, err)
			}
		}
	}
}

// The variant is part of the hash: an argon2i digest relabelled argon2id (or the other
// way) must not verify, since the two key derivations differ.
func TestArgon2VariantsAreNotInterchangeable(t *testing.T) {
	i := "$argon2i$v=19$m=1024,t=2,p=1$YUp1d0w3MTdQREhud21jaA$a616gxCKDJRW4nbesJS4+9hk4X+Nk92IQZHAd9U80dU"
	asID := strings.Replace(i, "$argon2i$", "$argon2id$", 1)
	if ok, err := Verify(asID, "secret pass"); err != nil || ok {
		t.Errorf("argon2i digest accepted as argon2id: ok=%v err=%v", ok, err)
	}
	id := "$argon2id$v=19$m=1024,t=2,p=2$SDRHbHRjd1pRdmFlQWcwVw$LdCJ4LepGBRZAHq0t4PpGudYPmrLOcNXpuMV4LxBGDg"
	asI := strings.Replace(id, "$argon2id$", "$argon2i$", 1)
	if ok, err := Verify(asI, "secret pass"); err != nil || ok {
		t.Errorf("argon2id digest accepted as argon2i: ok=%v err=%v", ok, err)
	}
	if (Argon2i{}).Recognises(id) || !(Argon2i{}).Recognises(i) || (Argon2id{}).Recognises(i) {
		t.Error("Recognises confuses the variants")
	}
}

// Changing any part of a stored hash (parameters, salt, digest) makes the right password
// fail, so nothing but the digest comparison decides.
func TestArgon2iTamperedHashesDoNotVerify(t *testing.T) {
	good := "$argon2i$v=19$m=1024,t=2,p=1$YUp1d0w3MTdQREhud21jaA$a616gxCKDJRW4nbesJS4+9hk4X+Nk92IQZHAd9U80dU"
	for _, h := range []string{
		strings.Replace(good, "m=1024", "m=1025", 1),
		strings.Replace(good, "t=2", "t=3", 1),
		strings.Replace(good, "p=1", "p=2", 1),
		strings.Replace(good, "YUp1d0w3", "YUp1d0w4", 1),
		strings.Replace(good, "a616gx", "a616gy", 1),
		good[:len(good)-4] + "AAAA", // same length, other digest
	} {
		if ok, err := Verify(h, "secret pass"); ok {
			t.Errorf("%q verified (err %v)", h, err)
		}
	}
}

// A stored hash decides how much memory and time a login spends: parameters beyond the
// bounds, and anything not in PHP's exact form, are refused before any derivation runs.
func TestArgon2HostileOrMalformedHashesAreRefused(t *testing.T) {
	salt, key := "YUp1d0w3MTdQREhud21jaA", "a616gxCKDJRW4nbesJS4+9hk4X+Nk92IQZHAd9U80dU"
	for _, variant := range []string{"argon2i", "argon2id"} {
		pre := "$" + variant + "$v=19$"
		for _, h := range []string{
			pre + "m=4194304,t=1,p=1$" + salt + "$" + key, // 4 GiB
			pre + "m=262145,t=1,p=1$" + salt + "$" + key,  // just past 256 MiB
			pre + "m=65536,t=17,p=1$" + salt + "$" + key,  // too many passes
			pre + "m=131072,t=16,p=1$" + salt + "$" + key, // 2 GiB of work
			pre + "m=65536,t=4294967295,p=1$" + salt + "$" + key,
			pre + "m=65536,t=4,p=17$" + salt + "$" + key,  // too many lanes
			pre + "m=65536,t=4,p=256$" + salt + "$" + key, // overflows a uint8
			pre + "m=65536,t=4,p=0$" + salt + "$" + key,   // no lanes
			pre + "m=65536,t=0,p=1$" + salt + "$" + key,   // no passes
			pre + "m=8,t=1,p=4$" + salt + "$" + key,       // less than 8 KiB per lane
			pre + "m=18446744073709551617,t=1,p=1$" + salt + "$" + key,
			pre + "m=-1,t=1,p=1$" + salt + "$" + key,
			pre + "m=+1024,t=2,p=1$" + salt + "$" + key,
			pre + "m=1024,t=2,p=1,keyid=x$" + salt + "$" + key,
			pre + "t=2,m=1024,p=1$" + salt + "$" + key,
			pre + "m=1024,t=2$" + salt + "$" + key,
			pre + "m=1024,t=2,p=1junk$" + salt + "$" + key,
			pre + "m=1024,t=2,p=1$" + "c2FsdA" + "$" + key,                    // 4-byte salt
			pre + "m=1024,t=2,p=1$" + strings.Repeat("QUFB", 30) + "$" + key,  // 90-byte salt
			pre + "m=1024,t=2,p=1$" + salt + "$" + "aGFzaA",                   // 4-byte digest
			pre + "m=1024,t=2,p=1$" + salt + "$" + strings.Repeat("QUFB", 30), // 90-byte digest
			pre + "m=1024,t=2,p=1$" + salt + "$" + key + "==",                 // padding
			pre + "m=1024,t=2,p=1$" + salt + "$" + "!!notbase64!!",
			pre + "m=1024,t=2,p=1$" + salt,
			pre + "m=1024,t=2,p=1$" + salt + "$" + key + "$extra",
			"$" + variant + "$v=16$m=1024,t=2,p=1$" + salt + "$" + key, // argon2 1.0
			"$" + variant + "$m=1024,t=2,p=1$" + salt + "$" + key,      // no version
			"x$" + variant + "$v=19$m=1024,t=2,p=1$" + salt + "$" + key,
		} {
			if ok, err := Verify(h, "secret pass"); err == nil || ok {
				t.Errorf("%q: want an error, got ok=%v err=%v", h, ok, err)
			} else if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), salt) {
				t.Errorf("the error shows the hash: %v", err)
			}
		}
	}
}

// The bounds admit what applications use: PHP's default, libsodium's "moderate" (256 MiB,
// 3 passes) and the largest allowed work.
func TestArgon2BoundsAdmitRealSettings(t *testing.T) {
	for _, params := range []string{"m=65536,t=4,p=1", "m=262144,t=3,p=1", "m=65536,t=16,p=16", "m=1024,t=1,p=1"} {
		for _, variant := range []string{"argon2i", "argon2id"} {
			h := "$" + variant + "$v=19$" + params + "$YUp1d0w3MTdQREhud21jaA$a616gxCKDJRW4nbesJS4+9hk4X+Nk92IQZHAd9U80dU"
			if _, err := parseArgon(variant, h); err != nil {
				t.Errorf("%s %s refused: %v", variant, params, err)
			}
		}
	}
}

func TestArgon2iRoundTrip(t *testing.T) {
	h, err := Argon2i{}.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2i$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", h)
	}
	if ok, err := Verify(h, "correct horse"); err != nil || !ok {
		t.Fatalf("own argon2i hash did not verify: %v", err)
	}
	if ok, _ := Verify(h, "correct horsf"); ok {
		t.Fatal("wrong password verified")
	}
}

// A table of argon2i hashes gets an argon2i decoy of the same cost.
func TestDecoyFollowsArgon2iHashes(t *testing.T) {
	d := NewDecoy("$2y$10$92IXUNpkjO0rOQ5byMi.Ye4oKoEa3Ro9llC/.og/at2.uheWG/igi")
	d.Observe("$argon2i$v=19$m=1024,t=2,p=1$YUp1d0w3MTdQREhud21jaA$a616gxCKDJRW4nbesJS4+9hk4X+Nk92IQZHAd9U80dU")
	if got := shapeOfDummy(t, d); got != "argon2i:v=19$m=1024,t=2,p=1$43" {
		t.Fatalf("after an argon2i hash the decoy is %q", got)
	}
	// A hostile hash does not make the decoy expensive: its dummy is the default's.
	d.Observe("$argon2i$v=19$m=4194304,t=4,p=1$YUp1d0w3MTdQREhud21jaA$a616gxCKDJRW4nbesJS4+9hk4X+Nk92IQZHAd9U80dU")
	if got := shapeOfDummy(t, d); got != "argon2id:v=19$m=19456,t=2,p=1$43" {
		t.Fatalf("after a hostile hash the decoy is %q", got)
	}
}
