package passwords

import (
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Decoy spends, for a login whose user does not exist, the time a real verification of
// that provider's hashes takes, so response time does not reveal which usernames exist.
//
// One fixed dummy hash is not enough: an application's table may hold bcrypt hashes of
// cost 12 while the dummy is a faster argon2id, and the difference is measurable. A Decoy
// instead remembers the shape (algorithm and cost parameters) of the last real hash it
// was shown and verifies against a dummy hash of that same shape.
type Decoy struct {
	mu     sync.Mutex
	shape  string            // shape of the last real hash observed
	like   string            // a hash of that shape, used to make a dummy
	dummys map[string]string // shape -> dummy hash of that shape
}

// NewDecoy returns a Decoy that, until it observes a real hash, behaves as if the users'
// hashes looked like like (e.g. a bcrypt hash of cost 10 for a Laravel table). An empty or
// unrecognised like means hashes of the Default algorithm.
func NewDecoy(like string) *Decoy {
	d := &Decoy{dummys: map[string]string{}}
	d.Observe(like)
	return d
}

// Observe records the shape of a real stored hash. Hashes of no known format are ignored.
func (d *Decoy) Observe(hash string) {
	shape, ok := hashShape(hash)
	if !ok {
		return
	}
	d.mu.Lock()
	d.shape, d.like = shape, hash
	d.mu.Unlock()
}

// Spend verifies password against a dummy hash shaped like the last real hash observed
// and throws the result away. Making the dummy for a new shape costs what verifying it
// does (both run the full key derivation), so even the first call spends the right time.
func (d *Decoy) Spend(password string) {
	d.mu.Lock()
	shape, like := d.shape, d.like
	dummy, have := d.dummys[shape]
	d.mu.Unlock()
	if have {
		_, _ = Verify(dummy, password)
		return
	}
	dummy = makeDummy(like)
	d.mu.Lock()
	d.dummys[shape] = dummy
	d.mu.Unlock()
}

// hashShape names a hash's algorithm and cost parameters, everything that decides how
// long verifying it takes; the salt and digest are left out.
func hashShape(hash string) (string, bool) {
	switch {
	case Bcrypt{}.Recognises(hash):
		cost, err := bcrypt.Cost([]byte("$2a$" + hash[4:]))
		if err != nil {
			return "", false
		}
		return "bcrypt:" + strconv.Itoa(cost), true
	case Argon2id{}.Recognises(hash), Argon2i{}.Recognises(hash):
		parts := strings.Split(hash, "$")
		if len(parts) != 6 {
			return "", false
		}
		// Variant, parameters, and the digest's length, which argon2 derives in full.
		return parts[1] + ":" + parts[2] + "$" + parts[3] + "$" + strconv.Itoa(len(parts[5])), true
	}
	return "", false
}

// makeDummy returns a new hash of a throwaway password with like's algorithm and
// parameters; Default's when like is not a usable hash.
func makeDummy(like string) string {
	const throwaway = "not a real password, used only to spend time"
	switch {
	case Bcrypt{}.Recognises(like):
		if cost, err := bcrypt.Cost([]byte("$2a$" + like[4:])); err == nil {
			if h, err := bcrypt.GenerateFromPassword([]byte(throwaway), cost); err == nil {
				return string(h)
			}
		}
	case Argon2id{}.Recognises(like), Argon2i{}.Recognises(like):
		if h, err := argonLike(like, throwaway); err == nil {
			return h
		}
	}
	h, err := Default.Hash(throwaway)
	if err != nil {
		panic(err) // only when crypto/rand fails
	}
	return h
}
