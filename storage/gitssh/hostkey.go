package gitssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"
)

// loadHostKey reads a private key: OpenSSH or PEM (PKCS#1, PKCS#8, SEC 1)
// ed25519, RSA or ECDSA, unencrypted.
func loadHostKey(path string) (gossh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	s, err := gossh.ParsePrivateKey(data)
	var missing *gossh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("host key %s is encrypted: give an unencrypted key", path)
	}
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w", path, err)
	}
	return s, nil
}

// EnsureHostKey creates an ed25519 host key in OpenSSH format at path,
// mode 0600, unless a file is already there; an existing file must be a
// usable host key. The key appears at path complete or not at all.
func EnsureHostKey(path string) error {
	if _, err := os.Lstat(path); err == nil {
		_, err := loadHostKey(path)
		return err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("host key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := gossh.MarshalPrivateKey(priv, "gerritgate host key")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".hostkey-")
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("host key: %w", err)
	}
	if _, err := tmp.Write(pem.EncodeToMemory(block)); err != nil {
		tmp.Close()
		return fmt.Errorf("host key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("host key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	// A link, unlike a rename, never replaces a key another process made
	// meanwhile.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			_, err := loadHostKey(path)
			return err
		}
		return fmt.Errorf("host key: %w", err)
	}
	return nil
}
