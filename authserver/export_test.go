package authserver

import "time"

// SetFeedPage makes the revocation feed of servers built from c answer at most n
// entries at a time, so tests can page through a few entries.
func SetFeedPage(c *Config, n int) { c.feedPage = n }

// SetPassportDecryption makes servers built from c decrypt at most slots Passport refresh
// tokens at once, each waiting at most wait for its turn.
func SetPassportDecryption(c *Config, slots int, wait time.Duration) {
	c.passportSlots, c.passportWait = slots, wait
}

// PassportDecryptions says how many Passport refresh tokens s has decrypted, and the most
// it decrypted at once.
func PassportDecryptions(s *Server) (count, peak int) {
	if s.passport == nil {
		return 0, 0
	}
	return int(s.passport.decrypted.Load()), int(s.passport.peak.Load())
}
