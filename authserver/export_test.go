package authserver

// SetFeedPage makes the revocation feed of servers built from c answer at most n
// entries at a time, so tests can page through a few entries.
func SetFeedPage(c *Config, n int) { c.feedPage = n }
