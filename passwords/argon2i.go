package passwords

import "strings"

// Argon2i verifies argon2i hashes in the PHC string format PHP's
// password_hash(PASSWORD_ARGON2I) writes, which is what Laravel's `argon` hashing driver
// stores: $argon2i$v=19$m=65536,t=4,p=1$<salt>$<hash>. It is here to read existing
// applications' tables; new hashes are argon2id (Default), the variant RFC 9106
// recommends for passwords.
type Argon2i struct{}

// Hash returns a PHC-format argon2i hash with a random 16-byte salt and the parameters
// of new argon2id hashes. Only tests and the login decoy need it.
func (Argon2i) Hash(password string) (string, error) { return newArgon("argon2i", password) }

// Verify recomputes the hash with the stored parameters (bounded, see parseArgon) and
// compares in constant time.
func (Argon2i) Verify(hash, password string) (bool, error) {
	p, err := parseArgon("argon2i", hash)
	if err != nil {
		return false, err
	}
	return p.verify(password), nil
}

// Recognises reports whether hash is an argon2i PHC string ("$argon2id$" is not one).
func (Argon2i) Recognises(hash string) bool { return strings.HasPrefix(hash, "$argon2i$") }
