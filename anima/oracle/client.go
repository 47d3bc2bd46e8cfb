package oracle

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/did"
	"github.com/lifeos/life/anima/eip712"
	"github.com/lifeos/life/anima/identity"
)

// BackendOracle is the name of the oracle client backend.
const BackendOracle = "oracle"

// Client is a custody backend whose keys live in a custody oracle. It is
// safe for concurrent use (requests are serialized on one connection).
type Client struct {
	path, agent string
	desc        Description
	auth        *ecdsa.PublicKey
	wallet      *btcec.PublicKey

	mu     sync.Mutex
	conn   net.Conn
	rd     *bufio.Reader
	nextID uint64
}

var _ custody.Custody = (*Client)(nil)

// Dial connects to the oracle at socketPath and loads the public identity of
// agent. A caller not allowed to use agent gets an error matching ErrDenied.
func Dial(ctx context.Context, socketPath, agent string) (*Client, error) {
	c := &Client{path: socketPath, agent: agent}
	if err := c.describe(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) describe(ctx context.Context) error {
	raw, err := c.call(ctx, Request{Op: OpDescribe})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &c.desc); err != nil {
		return fmt.Errorf("oracle: describe: %w", err)
	}
	c.auth, err = ecdsa.ParseUncompressedPublicKey(elliptic.P256(), c.desc.AuthPublicKey)
	if err != nil {
		return fmt.Errorf("oracle: describe: auth key: %w", err)
	}
	c.wallet, err = btcec.ParsePubKey(c.desc.WalletPublicKey)
	if err != nil {
		return fmt.Errorf("oracle: describe: wallet key: %w", err)
	}
	// Do not take the oracle's word for derived values.
	if d := (did.Key{Type: did.P256, P256: c.auth}).DID(); d != c.desc.DID {
		return fmt.Errorf("oracle: describe: DID %s does not match the auth key (%s)", c.desc.DID, d)
	}
	if a := identity.Address(c.wallet); a != c.desc.WalletAddress {
		return fmt.Errorf("oracle: describe: address %s does not match the wallet key (%s)", c.desc.WalletAddress, a)
	}
	return nil
}

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

func (c *Client) call(ctx context.Context, req Request) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", c.path)
		if err != nil {
			return nil, fmt.Errorf("oracle: dial %s: %w", c.path, err)
		}
		c.conn, c.rd = conn, bufio.NewReaderSize(conn, 64<<10)
	}
	c.nextID++
	req.ID, req.Agent = c.nextID, c.agent
	dl, hasDeadline := ctx.Deadline()
	_ = c.conn.SetDeadline(dl) // zero: none
	// The closure holds this call's connection: c.conn is reset below,
	// possibly while a late cancellation still runs.
	conn := c.conn
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	resp, err := c.roundTrip(req)
	stop()
	if err != nil {
		conn.Close() // the stream may be out of step; start afresh next call
		c.conn = nil
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("oracle: %s: %w", req.Op, cerr)
		}
		if hasDeadline && errors.Is(err, os.ErrDeadlineExceeded) {
			// The socket deadline can fire a moment before the context's.
			return nil, fmt.Errorf("oracle: %s: %w", req.Op, context.DeadlineExceeded)
		}
		return nil, err
	}
	if !resp.OK {
		if resp.Error == nil {
			return nil, fmt.Errorf("%w: response without ok or error", ErrRemote)
		}
		return nil, fmt.Errorf("oracle: %s for %s: %w", req.Op, c.agent, resp.Error.asError())
	}
	return resp.Result, nil
}

func (c *Client) roundTrip(req Request) (*Response, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("oracle: encode: %w", err)
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("oracle: send: %w", err)
	}
	line, err := c.rd.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("oracle: response longer than %d bytes", c.rd.Size())
		}
		return nil, fmt.Errorf("oracle: receive: %w", err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("oracle: decode response: %w", err)
	}
	if resp.ID != req.ID {
		return nil, fmt.Errorf("oracle: response id %d for request %d", resp.ID, req.ID)
	}
	return &resp, nil
}

// DID is the agent's did:key.
func (c *Client) DID() string { return c.desc.DID }

// WalletAddress is the agent's EIP-55 address.
func (c *Client) WalletAddress() string { return c.desc.WalletAddress }

// Backend returns "oracle".
func (c *Client) Backend() string { return BackendOracle }

// PublicKey returns the cached public key for a purpose.
func (c *Client) PublicKey(_ context.Context, purpose aios.KeyPurpose) (crypto.PublicKey, error) {
	switch purpose {
	case aios.KeyAuth:
		return c.auth, nil
	case aios.KeyWallet:
		return c.wallet, nil
	}
	return nil, fmt.Errorf("%w: unknown key purpose %q", custody.ErrBadRequest, purpose)
}

// SignJWS asks the oracle to sign a JWS.
func (c *Client) SignJWS(ctx context.Context, purpose aios.KeyPurpose, header map[string]any, claims json.RawMessage) (string, error) {
	if !json.Valid(claims) {
		return "", fmt.Errorf("%w: claims are not valid JSON", custody.ErrBadRequest)
	}
	raw, err := c.call(ctx, Request{Op: OpSignJWS, Purpose: purpose, Header: header, Claims: claims})
	if err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("oracle: sign_jws result: %w", err)
	}
	return s, nil
}

// SignDigest asks the oracle to sign a 32-byte digest.
func (c *Client) SignDigest(ctx context.Context, purpose aios.KeyPurpose, digest []byte) ([]byte, error) {
	if len(digest) != 32 {
		return nil, fmt.Errorf("%w: digest is %d bytes, want 32", custody.ErrBadRequest, len(digest))
	}
	raw, err := c.call(ctx, Request{Op: OpSignDigest, Purpose: purpose, Digest: digest})
	if err != nil {
		return nil, err
	}
	var b []byte
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("oracle: sign_digest result: %w", err)
	}
	return b, nil
}

// SignTypedData asks the oracle to sign EIP-712 typed data.
func (c *Client) SignTypedData(ctx context.Context, td *eip712.TypedData) ([]byte, error) {
	tdj, err := json.Marshal(td)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", custody.ErrBadRequest, err)
	}
	raw, err := c.call(ctx, Request{Op: OpSignTypedData, TypedData: tdj})
	if err != nil {
		return nil, err
	}
	var b []byte
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("oracle: sign_typed_data result: %w", err)
	}
	return b, nil
}

// Rotate is not offered by the oracle; it matches aios.ErrUnsupported.
func (c *Client) Rotate(context.Context) (*custody.Rotation, error) {
	return nil, custody.ErrUnsupported(BackendOracle, "rotate")
}

// IdentityDocument builds the identity document from the cached keys.
func (c *Client) IdentityDocument(context.Context) (*custody.IdentityDocument, error) {
	return custody.BuildDocument(BackendOracle, c.auth, c.wallet, c.desc.WalletAddress)
}
