package store

import (
	"errors"
	"fmt"
	"time"
)

// The rules below are what both drivers do alike before and after their SQL. They live
// here, once, so that the drivers cannot drift apart on them; storetest checks the
// outcome on both.

// Now is the current time as stores keep it: UTC, to the microsecond, the precision of
// PostgreSQL timestamps, so both drivers hand back the same instants.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// FillTime sets a zero time to Now, for records stored without a creation time.
func FillTime(t *time.Time) {
	if t.IsZero() {
		*t = Now()
	}
}

// UnixSeconds is how a time kept to the second (an auth_time) is stored: Unix seconds,
// 0 for the zero time.
func UnixSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// UnixTime reads what UnixSeconds stored: the zero time for 0, else the UTC instant.
func UnixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// PrepareClient fills a client's times before it is written: a zero CreatedAt is Now, a
// zero UpdatedAt is CreatedAt.
func PrepareClient(c *Client) {
	FillTime(&c.CreatedAt)
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
}

// PrepareSession fills a session's times before it is written: a zero CreatedAt is Now,
// a zero LastSeenAt is CreatedAt.
func PrepareSession(s *Session) {
	FillTime(&s.CreatedAt)
	if s.LastSeenAt.IsZero() {
		s.LastSeenAt = s.CreatedAt
	}
}

// PrepareConsent fills a consent's times before it is written: a zero CreatedAt is Now, a
// zero UpdatedAt is CreatedAt.
func PrepareConsent(c *Consent) {
	FillTime(&c.CreatedAt)
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
}

// PrepareTokenPair fills the times of an access token and of the refresh token issued
// with it (refresh may be nil) before they are written, and links a refresh token stored
// without an AccessTokenID to the access token, which revocation follows from one to the
// other.
func PrepareTokenPair(at *AccessToken, refresh *RefreshToken) {
	FillTime(&at.CreatedAt)
	if refresh != nil {
		FillTime(&refresh.CreatedAt)
		if refresh.AccessTokenID == "" {
			refresh.AccessTokenID = at.ID
		}
	}
}

// Refusal is what a database said no with, in the store's terms. Each driver recognises
// its own database's errors (a driver-specific code or sentinel) and names the refusal;
// WrapError turns it into the store's sentinel error.
type Refusal int

const (
	// NotRefused is any other failure: passed on, wrapped, as it is.
	NotRefused Refusal = iota
	// RefusedNoRow is a query that found no row: ErrNotFound.
	RefusedNoRow
	// RefusedDuplicate is a unique key that already holds the value: ErrConflict.
	RefusedDuplicate
	// RefusedNoClient is a foreign key naming a client that does not exist (clients are
	// the only foreign key): ErrNotFound.
	RefusedNoClient
)

// WrapError says which driver failed doing what (op), and maps the database's refusal,
// as the driver's classify names it, to the store's sentinel errors so callers can test
// them with errors.Is. A sentinel error already in err is kept. classify runs only when
// err is not nil and is not a sentinel yet.
func WrapError(driver, op string, err error, classify func(error) Refusal) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrAlreadyUsed) {
		return fmt.Errorf("%s: %s: %w", driver, op, err)
	}
	switch classify(err) {
	case RefusedNoRow:
		return fmt.Errorf("%s: %s: %w", driver, op, ErrNotFound)
	case RefusedDuplicate:
		return fmt.Errorf("%s: %s: %w (%v)", driver, op, ErrConflict, err)
	case RefusedNoClient:
		return fmt.Errorf("%s: %s: client does not exist: %w", driver, op, ErrNotFound)
	}
	return fmt.Errorf("%s: %s: %w", driver, op, err)
}
