package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Signer signs audit commits and tags with the service's OpenPGP key.
type Signer struct {
	entity *openpgp.Entity
}

// LoadSigner reads an armored private key (gerritgate key new writes one).
// The key must not be passphrase-protected: the service signs unattended,
// so the file's permissions are its protection.
func LoadSigner(path string) (*Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	defer f.Close()
	return ReadSigner(f, path)
}

// ReadSigner reads an armored private key from r; name says where it came
// from in errors.
func ReadSigner(r io.Reader, name string) (*Signer, error) {
	ring, err := openpgp.ReadArmoredKeyRing(r)
	if err != nil {
		return nil, fmt.Errorf("audit signing key %s: not an armored OpenPGP key: %w", name, err)
	}
	if len(ring) != 1 {
		return nil, fmt.Errorf("audit signing key %s: holds %d keys, want exactly one", name, len(ring))
	}
	e := ring[0]
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("audit signing key %s: holds a public key only", name)
	}
	if e.PrivateKey.Encrypted {
		return nil, fmt.Errorf("audit signing key %s: is passphrase-protected; the service signs unattended", name)
	}
	if _, ok := e.SigningKey(time.Now()); !ok {
		return nil, fmt.Errorf("audit signing key %s: has no valid signing key", name)
	}
	return &Signer{entity: e}, nil
}

// Fingerprint is the signing key's fingerprint, upper-case hex.
func (s *Signer) Fingerprint() string {
	return strings.ToUpper(fmt.Sprintf("%x", s.entity.PrimaryKey.Fingerprint))
}

// PublicKey returns the armored public key, what verifiers need.
func (s *Signer) PublicKey() (string, error) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		return "", err
	}
	if err := s.entity.Serialize(w); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return b.String() + "\n", nil
}

// sign returns an armored detached signature of payload.
func (s *Signer) sign(payload []byte) (string, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, s.entity, bytes.NewReader(payload), nil); err != nil {
		return "", err
	}
	return b.String() + "\n", nil
}

// NewKey makes a new signing key for the service (Ed25519) and returns
// the armored private and public keys.
func NewKey(name, email string) (private, public string, err error) {
	e, err := openpgp.NewEntity(name, "gerritgate audit", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		return "", "", err
	}
	var priv bytes.Buffer
	w, err := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		return "", "", err
	}
	if err := e.SerializePrivate(w, nil); err != nil {
		return "", "", err
	}
	if err := w.Close(); err != nil {
		return "", "", err
	}
	s := &Signer{entity: e}
	pub, err := s.PublicKey()
	return priv.String() + "\n", pub, err
}

// Keyring is a set of public keys signatures are checked against.
type Keyring struct {
	ring    openpgp.EntityList
	armored string
}

// ReadKeyring reads armored public keys.
func ReadKeyring(armored string) (*Keyring, error) {
	ring, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("not an armored OpenPGP public key: %w", err)
	}
	if len(ring) == 0 {
		return nil, errors.New("no key in the keyring")
	}
	return &Keyring{ring: ring, armored: armored}, nil
}

// check verifies an armored detached signature over payload and returns
// the signing key's fingerprint.
func (k *Keyring) check(payload []byte, sig string) (string, error) {
	if sig == "" {
		return "", ErrUnsigned
	}
	e, err := openpgp.CheckArmoredDetachedSignature(k.ring, bytes.NewReader(payload), strings.NewReader(sig), nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return strings.ToUpper(fmt.Sprintf("%x", e.PrimaryKey.Fingerprint)), nil
}

// Signature errors.
var (
	ErrUnsigned     = errors.New("not signed")
	ErrBadSignature = errors.New("bad signature")
)
