package laravel

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"time"
)

// NewAppKey is a Laravel APP_KEY as `php artisan key:generate` writes it: "base64:" and
// 32 random bytes. Its decoded bytes are what Passport hands league/oauth2-server as the
// encryption key (app('encrypter')->getKey()).
func NewAppKey() (appKey string, raw []byte) {
	raw = make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		panic(err)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(raw), raw
}

// RefreshToken is what league/oauth2-server 8 puts in a refresh token before encrypting
// it (BearerTokenResponse::generateHttpResponse).
type RefreshToken struct {
	// ClientID is the client_id of the request that got the token: a string.
	ClientID string
	// RefreshTokenID and AccessTokenID are the oauth_refresh_tokens and
	// oauth_access_tokens ids.
	RefreshTokenID, AccessTokenID string
	Scopes                        []string
	// UserID is the user's auth identifier: Passport passes Laravel's integer key, so
	// it is a JSON number for integer ids (an int here) and a string for UUIDs.
	UserID any
	// ExpireTime is the refresh token's expiry, written as a Unix time.
	ExpireTime time.Time
}

// EncryptRefreshToken returns the refresh token a Passport deployment with this APP_KEY
// (decoded) hands out for t: the JSON payload league writes, encrypted as
// defuse/php-encryption's Crypto::encryptWithPassword does. It is written here from the
// library's format description (docs/CryptoDetails.md, and the password pre-hash of
// KeyOrPassword::deriveKeys), independently of the phpencryption package that decrypts it.
func EncryptRefreshToken(appKey []byte, t RefreshToken) string {
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	// json_encode of an array keeps this key order.
	payload, err := json.Marshal(struct {
		ClientID       string   `json:"client_id"`
		RefreshTokenID string   `json:"refresh_token_id"`
		AccessTokenID  string   `json:"access_token_id"`
		Scopes         []string `json:"scopes"`
		UserID         any      `json:"user_id"`
		ExpireTime     int64    `json:"expire_time"`
	}{t.ClientID, t.RefreshTokenID, t.AccessTokenID, scopes, t.UserID, t.ExpireTime.Unix()})
	if err != nil {
		panic(err)
	}
	return EncryptWithPassword(appKey, payload)
}

// EncryptWithPassword is defuse/php-encryption v2's Crypto::encryptWithPassword with hex
// output: VERSION || salt || iv || AES-256-CTR(m) || HMAC-SHA256 over all before it, the
// keys from PBKDF2-SHA256(SHA-256(password), salt, 100000, 32) expanded by HKDF-SHA256
// with the salt and the two info strings.
func EncryptWithPassword(password, plaintext []byte) string {
	salt, iv := make([]byte, 32), make([]byte, 16)
	rand.Read(salt)
	rand.Read(iv)
	pre := sha256.Sum256(password)
	k, err := pbkdf2.Key(sha256.New, string(pre[:]), salt, 100000, 32)
	if err != nil {
		panic(err)
	}
	akey, _ := hkdf.Key(sha256.New, k, salt, "DefusePHP|V2|KeyForAuthentication", 32)
	ekey, _ := hkdf.Key(sha256.New, k, salt, "DefusePHP|V2|KeyForEncryption", 32)
	block, err := aes.NewCipher(ekey)
	if err != nil {
		panic(err)
	}
	out := append([]byte{0xDE, 0xF5, 0x02, 0x00}, salt...)
	out = append(out, iv...)
	body := make([]byte, len(plaintext))
	cipher.NewCTR(block, iv).XORKeyStream(body, plaintext)
	out = append(out, body...)
	mac := hmac.New(sha256.New, akey)
	mac.Write(out)
	return hex.EncodeToString(mac.Sum(out))
}
