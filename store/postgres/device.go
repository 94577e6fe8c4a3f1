package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/caddyoauth/caddy-oauth/store"
)

const deviceCols = `id, user_code, client_id, scopes, decision, user_id, provider, auth_time,
	interval_ms, last_polled_at, used, access_token_id, created_at, expires_at`

func scanDevice(row pgx.Row) (*store.DeviceCode, error) {
	var d store.DeviceCode
	var intervalMS int64
	var authTime, lastPolled *time.Time
	if err := row.Scan(&d.ID, &d.UserCodeHash, &d.ClientID, &d.Scopes, &d.Decision, &d.UserID,
		&d.Provider, &authTime, &intervalMS, &lastPolled, &d.Used, &d.AccessTokenID,
		&d.CreatedAt, &d.ExpiresAt); err != nil {
		return nil, err
	}
	d.Scopes = readList(d.Scopes)
	d.Interval = time.Duration(intervalMS) * time.Millisecond
	if authTime != nil {
		d.AuthTime = authTime.UTC()
	}
	if lastPolled != nil {
		d.LastPolledAt = lastPolled.UTC()
	}
	utc(&d.CreatedAt)
	utc(&d.ExpiresAt)
	return &d, nil
}

// optTime is a time that may be unset, stored as NULL when zero.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// CreateDeviceCode inserts a pending device code, first deleting an expired one that
// holds the same user code, in one transaction; store.ErrConflict if a live one holds it
// (the unique index refuses the insert) or the id exists, store.ErrNotFound if the
// client does not exist. (Two statements, not one with a data-modifying WITH: within
// one statement the insert's unique check may run before the delete.)
func (s *Store) CreateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	store.FillTime(&d.CreatedAt)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM device_codes WHERE user_code = $1 AND expires_at <= $2`,
			d.UserCodeHash, d.CreatedAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO device_codes (`+deviceCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			d.ID, d.UserCodeHash, d.ClientID, list(d.Scopes), d.Decision, d.UserID, d.Provider,
			optTime(d.AuthTime), d.Interval.Milliseconds(), optTime(d.LastPolledAt), d.Used, d.AccessTokenID,
			d.CreatedAt, d.ExpiresAt)
		return err
	})
	return wrapErr("create device code", err)
}

// GetDeviceCode returns a device code by id (digest); store.ErrNotFound if absent.
func (s *Store) GetDeviceCode(ctx context.Context, id string) (*store.DeviceCode, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM device_codes WHERE id = $1`, id))
	if err != nil {
		return nil, wrapErr("get device code", notFound(err))
	}
	return d, nil
}

// GetDeviceCodeByUserCode returns the device code holding a user code (digest);
// store.ErrNotFound if none.
func (s *Store) GetDeviceCodeByUserCode(ctx context.Context, userCodeHash string) (*store.DeviceCode, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM device_codes WHERE user_code = $1`, userCodeHash))
	if err != nil {
		return nil, wrapErr("get device code by user code", notFound(err))
	}
	return d, nil
}

// DecideDeviceCode records the answer on a pending, unexpired device code in one
// conditional UPDATE: a second answer waits on the first's row lock, then finds the code
// answered and changes nothing. It also reports whether the code exists, to tell
// store.ErrAlreadyUsed from store.ErrNotFound.
func (s *Store) DecideDeviceCode(ctx context.Context, id, decision, userID, provider string, authTime, now time.Time) error {
	var decided, exists bool
	err := s.pool.QueryRow(ctx, `WITH d AS (
			UPDATE device_codes SET decision = $2, user_id = $3, provider = $4, auth_time = $5
			WHERE id = $1 AND decision = $6 AND NOT used AND expires_at > $7 RETURNING id
		)
		SELECT EXISTS (SELECT 1 FROM d), EXISTS (SELECT 1 FROM device_codes WHERE id = $1)`,
		id, decision, userID, provider, optTime(authTime), store.DevicePending, now).Scan(&decided, &exists)
	err = usedOrMissing(err, decided, exists)
	return wrapErr("decide device code", notFound(err))
}

// PollDeviceCode records a poll and returns the device code as it was before it. The
// row is locked (FOR UPDATE) in the transaction that reads it, so a concurrent poll
// waits and then reads this one's time.
func (s *Store) PollDeviceCode(ctx context.Context, id string, now time.Time) (*store.DeviceCode, error) {
	var prev *store.DeviceCode
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		prev, err = scanDevice(tx.QueryRow(ctx, `SELECT `+deviceCols+` FROM device_codes WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE device_codes SET last_polled_at = $2 WHERE id = $1`, id, now)
		return err
	})
	if err != nil {
		return nil, wrapErr("poll device code", notFound(err))
	}
	return prev, nil
}

// SlowDownDeviceCode raises the device code's interval by by, in one UPDATE.
func (s *Store) SlowDownDeviceCode(ctx context.Context, id string, by time.Duration) (time.Duration, error) {
	var ms int64
	err := s.pool.QueryRow(ctx, `UPDATE device_codes SET interval_ms = interval_ms + $2 WHERE id = $1
		RETURNING interval_ms`, id, by.Milliseconds()).Scan(&ms)
	if err != nil {
		return 0, wrapErr("slow down device code", notFound(err))
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// exchangeDeviceSQL and exchangeDevicePairSQL mark the approved device code $1 used,
// recording the access token on it, and store the tokens (oneUseExchangeSQL). $12 is the
// approved decision; the refresh token's parameters follow.
const useDeviceCodeSQL = `UPDATE device_codes SET used = true, access_token_id = $2 WHERE id = $1 AND decision = $12 AND NOT used RETURNING id`

var (
	exchangeDeviceSQL = oneUseExchangeSQL("device_codes",
		useDeviceCodeSQL, 0)
	exchangeDevicePairSQL = oneUseExchangeSQL("device_codes",
		useDeviceCodeSQL, 13)
)

// ExchangeDeviceCode marks the approved device code used, records the access token on
// it and stores the tokens, in one statement. Of two concurrent exchanges the second
// waits on the row lock of the first, then finds the code used, inserts nothing and gets
// store.ErrAlreadyUsed.
func (s *Store) ExchangeDeviceCode(ctx context.Context, id string, at *store.AccessToken, refresh *store.RefreshToken) error {
	store.PrepareTokenPair(at, refresh)
	var used, exists bool
	var err error
	args := append(append([]any{id}, accessArgs(at)...), store.DeviceApproved)
	if refresh == nil {
		err = s.pool.QueryRow(ctx, exchangeDeviceSQL, args...).Scan(&used, &exists)
	} else {
		err = s.pool.QueryRow(ctx, exchangeDevicePairSQL, append(args, refreshArgs(refresh)...)...).Scan(&used, &exists)
	}
	return wrapErr("exchange device code", notFound(usedOrMissing(err, used, exists)))
}

// usedOrMissing turns the answer of a conditional one-use UPDATE into the store's
// errors: nil when it changed the row, store.ErrAlreadyUsed when the row exists but was
// not changed, store.ErrNotFound when there is no row.
func usedOrMissing(err error, changed, exists bool) error {
	switch {
	case err != nil:
		return err
	case changed:
		return nil
	case exists:
		return store.ErrAlreadyUsed
	}
	return store.ErrNotFound
}
