package access

import (
	"crypto/rand"
	"encoding/base64"
)

// NewToken returns a new random token (32 bytes from crypto/rand, URL-safe
// base64 without padding) and the line to put in the access file for it,
// "sha256:<hex>". Show the token once; only the hash is stored.
func NewToken() (token, hashed string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}
