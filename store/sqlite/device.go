package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/caddyoauth/caddy-oauth/store"
)

const deviceCols = `id, user_code, client_id, scopes, decision, user_id, provider, auth_time,
	interval_ms, last_polled_at, used, access_token_id, created_at, expires_at`

func scanDevice(sc scanner) (*store.DeviceCode, error) {
	var d store.DeviceCode
	var intervalMS int64
	if err := sc.Scan(&d.ID, &d.UserCodeHash, &d.ClientID, listCol{&d.Scopes}, &d.Decision, &d.UserID,
		&d.Provider, optTimeCol{&d.AuthTime}, &intervalMS, optTimeCol{&d.LastPolledAt}, &d.Used,
		&d.AccessTokenID, timeCol{&d.CreatedAt}, timeCol{&d.ExpiresAt}); err != nil {
		return nil, err
	}
	d.Interval = time.Duration(intervalMS) * time.Millisecond
	return &d, nil
}

// optTime is a time that may be unset, stored as NULL when zero.
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

// optTimeCol scans a time that may be NULL (left zero).
type optTimeCol struct{ t *time.Time }

// Scan implements sql.Scanner.
func (c optTimeCol) Scan(src any) error {
	if src == nil {
		*c.t = time.Time{}
		return nil
	}
	return timeCol(c).Scan(src)
}

// CreateDeviceCode inserts a pending device code, first deleting an expired one that
// holds the same user code; store.ErrConflict if a live one holds it (the unique index
// refuses the insert) or the id exists, store.ErrNotFound if the client does not exist.
func (s *Store) CreateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	store.FillTime(&d.CreatedAt)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM device_codes WHERE user_code = ? AND expires_at <= ?`,
			d.UserCodeHash, fmtTime(d.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO device_codes (`+deviceCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID, d.UserCodeHash, d.ClientID, encodeList(d.Scopes), d.Decision, d.UserID, d.Provider,
			optTime(d.AuthTime), d.Interval.Milliseconds(), optTime(d.LastPolledAt), d.Used, d.AccessTokenID,
			fmtTime(d.CreatedAt), fmtTime(d.ExpiresAt))
		return err
	})
	return wrapErr("create device code", err)
}

// GetDeviceCode returns a device code by id (digest); store.ErrNotFound if absent.
func (s *Store) GetDeviceCode(ctx context.Context, id string) (*store.DeviceCode, error) {
	d, err := scanDevice(s.r.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM device_codes WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr("get device code", err)
	}
	return d, nil
}

// GetDeviceCodeByUserCode returns the device code holding a user code (digest);
// store.ErrNotFound if none.
func (s *Store) GetDeviceCodeByUserCode(ctx context.Context, userCodeHash string) (*store.DeviceCode, error) {
	d, err := scanDevice(s.r.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM device_codes WHERE user_code = ?`, userCodeHash))
	if err != nil {
		return nil, wrapErr("get device code by user code", err)
	}
	return d, nil
}

// DecideDeviceCode records the answer on a pending, unexpired device code. The
// conditional UPDATE decides between two answers: the second changes nothing.
func (s *Store) DecideDeviceCode(ctx context.Context, id, decision, userID, provider string, authTime, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return markUsed(ctx, tx, "device_codes", id, `UPDATE device_codes
			SET decision = ?, user_id = ?, provider = ?, auth_time = ?
			WHERE id = ? AND decision = ? AND NOT used AND expires_at > ?`,
			decision, userID, provider, optTime(authTime), id, store.DevicePending, fmtTime(now))
	})
	return wrapErr("decide device code", err)
}

// PollDeviceCode records a poll and returns the device code as it was before it, in one
// write transaction (BEGIN IMMEDIATE), so concurrent polls are serialised.
func (s *Store) PollDeviceCode(ctx context.Context, id string, now time.Time) (*store.DeviceCode, error) {
	var prev *store.DeviceCode
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		prev, err = scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM device_codes WHERE id = ?`, id))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE device_codes SET last_polled_at = ? WHERE id = ?`, fmtTime(now), id)
		return err
	})
	if err != nil {
		return nil, wrapErr("poll device code", err)
	}
	return prev, nil
}

// SlowDownDeviceCode raises the device code's interval by by.
func (s *Store) SlowDownDeviceCode(ctx context.Context, id string, by time.Duration) (time.Duration, error) {
	var ms int64
	err := s.w.QueryRowContext(ctx, `UPDATE device_codes SET interval_ms = interval_ms + ? WHERE id = ?
		RETURNING interval_ms`, by.Milliseconds(), id).Scan(&ms)
	if err != nil {
		return 0, wrapErr("slow down device code", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// ExchangeDeviceCode marks the approved device code used, records the access token on
// it and stores the tokens, in one transaction. The conditional UPDATE ... WHERE NOT
// used decides the race between two exchanges: the loser changes nothing and gets
// store.ErrAlreadyUsed.
func (s *Store) ExchangeDeviceCode(ctx context.Context, id string, at *store.AccessToken, refresh *store.RefreshToken) error {
	store.PrepareTokenPair(at, refresh)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := markUsed(ctx, tx, "device_codes", id, `UPDATE device_codes SET used = 1, access_token_id = ?
			WHERE id = ? AND decision = ? AND NOT used`, at.ID, id, store.DeviceApproved); err != nil {
			return err
		}
		return s.insertPair(ctx, tx, at, refresh)
	})
	return wrapErr("exchange device code", err)
}
