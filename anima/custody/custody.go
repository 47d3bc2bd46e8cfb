// Package custody defines the anima Custody interface (aios.Custody plus
// EIP-712 signing, rotation and identity export) and the in-process backend,
// which holds the keys derived from one seed in memory.
//
// Backends that cannot perform an operation return an error matching
// aios.ErrUnsupported ([ErrUnsupported] wraps it with the operation name).
package custody

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/did"
	"github.com/lifeos/life/anima/eip712"
)

// Custody is what anima asks of a custody backend.
type Custody interface {
	aios.Custody
	// SignTypedData signs EIP-712 typed data with the wallet key and returns
	// the 65-byte r||s||v signature (v 27 or 28).
	SignTypedData(ctx context.Context, td *eip712.TypedData) ([]byte, error)
	// Rotate replaces the keys with ones from a fresh seed and returns the
	// journal events that record it, with proofs signed by the old keys.
	Rotate(ctx context.Context) (*Rotation, error)
	// IdentityDocument exports the public identity: DID document, wallet DID
	// and address.
	IdentityDocument(ctx context.Context) (*IdentityDocument, error)
}

// Rotation is the result of a key rotation.
type Rotation struct {
	OldDID, NewDID             string
	OldWalletDID, NewWalletDID string
	// Events are the anima.identity_rotated events to journal, auth key
	// first, then wallet key.
	Events []*aios.IdentityRotated
}

// IdentityDocument is the exported public identity.
type IdentityDocument struct {
	DID           string       `json:"did"`
	Document      did.Document `json:"did_document"`
	WalletDID     string       `json:"wallet_did"`
	WalletAddress string       `json:"wallet_address"`
	Backend       string       `json:"backend"`
}

// UnsupportedError names an operation a backend cannot do; it matches
// aios.ErrUnsupported.
type UnsupportedError struct {
	Backend, Op string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("custody: backend %s does not support %s", e.Backend, e.Op)
}

// Unwrap makes the error match aios.ErrUnsupported.
func (e *UnsupportedError) Unwrap() error { return aios.ErrUnsupported }

// ErrUnsupported returns the error a backend gives for an operation it
// cannot perform.
func ErrUnsupported(backend, op string) error { return &UnsupportedError{Backend: backend, Op: op} }

// ErrBadRequest is matched by errors about invalid arguments (a digest that
// is not 32 bytes, an unknown key purpose).
var ErrBadRequest = errors.New("custody: bad request")

// BuildDocument assembles an identity document from public keys.
func BuildDocument(backend string, auth *ecdsa.PublicKey, wallet *btcec.PublicKey, address string) (*IdentityDocument, error) {
	authDID := did.Key{Type: did.P256, P256: auth}.DID()
	doc, err := did.NewDocument(authDID)
	if err != nil {
		return nil, err
	}
	return &IdentityDocument{
		DID: authDID, Document: doc,
		WalletDID:     did.Key{Type: did.Secp256k1, Secp256k1: wallet}.DID(),
		WalletAddress: address, Backend: backend,
	}, nil
}

// PurposeDID returns the did:key of a custody's key for a purpose.
func PurposeDID(ctx context.Context, c aios.Custody, purpose aios.KeyPurpose) (string, error) {
	if purpose == aios.KeyAuth {
		return c.DID(), nil
	}
	pub, err := c.PublicKey(ctx, purpose)
	if err != nil {
		return "", err
	}
	return did.Encode(pub)
}
