// Package did encodes and resolves did:key identifiers for the two key types
// an agent has: P-256 (its auth key, multicodec p256-pub 0x1200) and
// secp256k1 (its wallet key, multicodec secp256k1-pub 0xe7), both over the
// compressed point. It also builds the JWK, the RFC 7638 thumbprint and the
// JsonWebKey2020 DID document of a key.
package did

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
)

// KeyType is the curve of a did:key.
type KeyType int

const (
	// P256 is a NIST P-256 key (ES256), the agent's auth key.
	P256 KeyType = iota + 1
	// Secp256k1 is a secp256k1 key (ES256K), the agent's wallet key.
	Secp256k1
)

// String names the key type as its JWK crv does.
func (t KeyType) String() string {
	switch t {
	case P256:
		return "P-256"
	case Secp256k1:
		return "secp256k1"
	}
	return fmt.Sprintf("KeyType(%d)", int(t))
}

// Alg is the JWS algorithm that signs with keys of this type.
func (t KeyType) Alg() string {
	switch t {
	case P256:
		return "ES256"
	case Secp256k1:
		return "ES256K"
	}
	return ""
}

const (
	prefix = "did:key:z"
	// maxLen bounds the DIDs we try to decode; real ones are 57 characters.
	maxLen = 128
)

// Multicodec prefixes (unsigned varints) of the supported key types.
var (
	codecP256      = []byte{0x80, 0x24}
	codecSecp256k1 = []byte{0xe7, 0x01}
)

// ErrInvalid is matched by every error about a malformed or unsupported DID.
var ErrInvalid = errors.New("did: invalid did:key")

// Error says why a DID was rejected; it matches [ErrInvalid].
type Error struct {
	DID    string
	Reason string
}

func (e *Error) Error() string {
	d := e.DID
	if len(d) > 80 {
		d = d[:80] + "..."
	}
	return fmt.Sprintf("did: invalid did:key %q: %s", d, e.Reason)
}

// Unwrap makes the error match [ErrInvalid].
func (e *Error) Unwrap() error { return ErrInvalid }

// Key is a resolved did:key: exactly one of the public keys is set.
type Key struct {
	Type      KeyType
	P256      *ecdsa.PublicKey
	Secp256k1 *btcec.PublicKey
}

// Public returns the key as a crypto.PublicKey (*ecdsa.PublicKey or
// *btcec.PublicKey).
func (k Key) Public() crypto.PublicKey {
	if k.Type == P256 {
		return k.P256
	}
	return k.Secp256k1
}

// FromPublic wraps a supported public key (*ecdsa.PublicKey on P-256, or
// *btcec.PublicKey) as a Key.
func FromPublic(pub crypto.PublicKey) (Key, error) {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if p == nil || p.Curve != elliptic.P256() {
			return Key{}, fmt.Errorf("%w: ecdsa key is not on P-256", ErrInvalid)
		}
		return Key{Type: P256, P256: p}, nil
	case *btcec.PublicKey:
		if p == nil {
			return Key{}, fmt.Errorf("%w: nil secp256k1 key", ErrInvalid)
		}
		return Key{Type: Secp256k1, Secp256k1: p}, nil
	}
	return Key{}, fmt.Errorf("%w: unsupported public key type %T", ErrInvalid, pub)
}

// Encode returns the did:key of a supported public key.
func Encode(pub crypto.PublicKey) (string, error) {
	k, err := FromPublic(pub)
	if err != nil {
		return "", err
	}
	return k.DID(), nil
}

// DID returns the key's did:key identifier.
func (k Key) DID() string {
	var b []byte
	switch k.Type {
	case P256:
		b = append(append(b, codecP256...), compressP256(k.P256)...)
	case Secp256k1:
		b = append(append(b, codecSecp256k1...), k.Secp256k1.SerializeCompressed()...)
	default:
		return ""
	}
	return prefix + encodeBase58(b)
}

// Fragment is the verification-method fragment of a did:key (its multibase
// value), as in did:key:zX#zX.
func Fragment(did string) string { return strings.TrimPrefix(did, "did:key:") }

func compressP256(p *ecdsa.PublicKey) []byte {
	raw, err := p.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil
	}
	out := make([]byte, 33)
	out[0] = 2 | raw[64]&1
	copy(out[1:], raw[1:33])
	return out
}

// Resolve parses a did:key and returns its public key. Bad prefixes, unknown
// multicodecs, wrong lengths and points off the curve are errors matching
// [ErrInvalid].
func Resolve(did string) (Key, error) {
	bad := func(reason string) (Key, error) { return Key{}, &Error{DID: did, Reason: reason} }
	if len(did) > maxLen {
		return bad("too long")
	}
	if !strings.HasPrefix(did, prefix) {
		if strings.HasPrefix(did, "did:key:") {
			return bad("multibase prefix is not z (base58btc)")
		}
		return bad("not a did:key")
	}
	raw, err := decodeBase58(did[len(prefix):], 64)
	if err != nil {
		return bad(err.Error())
	}
	switch {
	case len(raw) >= 2 && raw[0] == codecP256[0] && raw[1] == codecP256[1]:
		key := raw[2:]
		if len(key) != 33 {
			return bad(fmt.Sprintf("p256-pub key is %d bytes, want 33", len(key)))
		}
		pub, err := decompressP256(key)
		if err != nil {
			return bad(err.Error())
		}
		return Key{Type: P256, P256: pub}, nil
	case len(raw) >= 2 && raw[0] == codecSecp256k1[0] && raw[1] == codecSecp256k1[1]:
		key := raw[2:]
		if len(key) != 33 {
			return bad(fmt.Sprintf("secp256k1-pub key is %d bytes, want 33", len(key)))
		}
		if key[0] != 2 && key[0] != 3 {
			return bad("secp256k1 key is not a compressed point")
		}
		pub, err := btcec.ParsePubKey(key)
		if err != nil {
			return bad("secp256k1 point: " + err.Error())
		}
		return Key{Type: Secp256k1, Secp256k1: pub}, nil
	}
	return bad("unsupported multicodec (want p256-pub or secp256k1-pub)")
}

func decompressP256(b []byte) (*ecdsa.PublicKey, error) {
	if b[0] != 2 && b[0] != 3 {
		return nil, errors.New("p256 key is not a compressed point")
	}
	// elliptic.UnmarshalCompressed checks the point is on the curve.
	x, y := elliptic.UnmarshalCompressed(elliptic.P256(), b)
	if x == nil {
		return nil, errors.New("p256 point is not on the curve")
	}
	raw := make([]byte, 65)
	raw[0] = 4
	x.FillBytes(raw[1:33])
	y.FillBytes(raw[33:])
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("p256 point: %w", err)
	}
	return pub, nil
}

// JWK is an EC public JSON Web Key. Its fields are in the lexical order
// RFC 7638 thumbprints use.
type JWK struct {
	Crv string `json:"crv"`
	Kty string `json:"kty"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

var b64 = base64.RawURLEncoding

// JWK returns the key as a public JWK.
func (k Key) JWK() JWK {
	var x, y []byte
	switch k.Type {
	case P256:
		raw, _ := k.P256.Bytes()
		if len(raw) == 65 {
			x, y = raw[1:33], raw[33:]
		}
	case Secp256k1:
		raw := k.Secp256k1.SerializeUncompressed()
		x, y = raw[1:33], raw[33:]
	}
	return JWK{Crv: k.Type.String(), Kty: "EC", X: b64.EncodeToString(x), Y: b64.EncodeToString(y)}
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of the key's JWK,
// base64url without padding.
func (k Key) Thumbprint() string {
	j := k.JWK()
	// The required members in lexical order, no whitespace (RFC 7638 §3.2);
	// every value is base64url or a fixed name, so no escaping is needed.
	canon := `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// VerificationMethod is one key of a DID document.
type VerificationMethod struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	Controller   string `json:"controller"`
	PublicKeyJwk JWK    `json:"publicKeyJwk"`
}

// Document is a DID document with JsonWebKey2020 verification methods.
type Document struct {
	Context              []string             `json:"@context"`
	ID                   string               `json:"id"`
	VerificationMethod   []VerificationMethod `json:"verificationMethod"`
	Authentication       []string             `json:"authentication"`
	AssertionMethod      []string             `json:"assertionMethod"`
	CapabilityInvocation []string             `json:"capabilityInvocation"`
	CapabilityDelegation []string             `json:"capabilityDelegation"`
}

// NewDocument resolves a did:key and returns its DID document.
func NewDocument(did string) (Document, error) {
	k, err := Resolve(did)
	if err != nil {
		return Document{}, err
	}
	vm := did + "#" + Fragment(did)
	refs := []string{vm}
	return Document{
		Context: []string{"https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"},
		ID:      did,
		VerificationMethod: []VerificationMethod{{
			ID: vm, Type: "JsonWebKey2020", Controller: did, PublicKeyJwk: k.JWK(),
		}},
		Authentication: refs, AssertionMethod: refs, CapabilityInvocation: refs, CapabilityDelegation: refs,
	}, nil
}
