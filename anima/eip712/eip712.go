// Package eip712 hashes EIP-712 typed structured data (the JSON shape of
// eth_signTypedData_v4) and builds the EIP-3009 TransferWithAuthorization
// message that x402 payments sign. Values are checked strictly: a missing or
// extra field, a number out of its type's range, or a malformed address is
// an error.
package eip712

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"golang.org/x/crypto/sha3"

	"github.com/lifeos/life/anima/identity"
)

// Field is one member of a struct type.
type Field struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// TypedData is an EIP-712 request. Domain and Message values are JSON-like:
// strings (decimal or 0x hex for numbers, 0x hex for bytes and addresses),
// bool, json.Number, float64 (integral only), int/int64/uint64, *big.Int,
// []byte for bytes, []any for arrays, map[string]any for structs.
type TypedData struct {
	Types       map[string][]Field `json:"types"`
	PrimaryType string             `json:"primaryType"`
	Domain      map[string]any     `json:"domain"`
	Message     map[string]any     `json:"message"`
}

// ErrInvalid is matched by every error about malformed typed data.
var ErrInvalid = errors.New("eip712: invalid typed data")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// MaxSize bounds the typed data Parse accepts.
const MaxSize = 256 << 10

// Parse decodes typed data JSON, keeping numbers exact.
func Parse(b []byte) (*TypedData, error) {
	if len(b) > MaxSize {
		return nil, invalid("%d bytes, at most %d", len(b), MaxSize)
	}
	td := new(TypedData)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(td); err != nil {
		return nil, invalid("%v", err)
	}
	if _, err := td.Hash(); err != nil {
		return nil, err
	}
	return td, nil
}

func keccak(parts ...[]byte) (out [32]byte) {
	h := sha3.NewLegacyKeccak256()
	for _, p := range parts {
		h.Write(p)
	}
	h.Sum(out[:0])
	return out
}

// maxDepth bounds struct and array nesting, so hostile input cannot recurse
// without end.
const maxDepth = 16

// Hash is the digest a wallet signs: keccak256(0x19 0x01 ||
// hashStruct(EIP712Domain, domain) || hashStruct(primaryType, message)).
func (td *TypedData) Hash() ([32]byte, error) {
	if _, ok := td.Types["EIP712Domain"]; !ok {
		return [32]byte{}, invalid("types has no EIP712Domain")
	}
	if td.PrimaryType == "" || td.PrimaryType == "EIP712Domain" {
		return [32]byte{}, invalid("primaryType %q", td.PrimaryType)
	}
	ds, err := td.HashStruct("EIP712Domain", td.Domain)
	if err != nil {
		return [32]byte{}, fmt.Errorf("domain: %w", err)
	}
	ms, err := td.HashStruct(td.PrimaryType, td.Message)
	if err != nil {
		return [32]byte{}, fmt.Errorf("message: %w", err)
	}
	return keccak([]byte{0x19, 0x01}, ds[:], ms[:]), nil
}

// HashStruct is keccak256(typeHash || encodeData(data)).
func (td *TypedData) HashStruct(name string, data map[string]any) ([32]byte, error) {
	enc, err := td.encodeData(name, data, 0)
	if err != nil {
		return [32]byte{}, err
	}
	return keccak(enc), nil
}

var arraySuffix = regexp.MustCompile(`\[[0-9]*\]$`)

// baseType strips array suffixes: Mail[][2] -> Mail.
func baseType(t string) string {
	for arraySuffix.MatchString(t) {
		t = arraySuffix.ReplaceAllString(t, "")
	}
	return t
}

// EncodeType is the type's signature followed by those of the struct types
// it references, sorted by name.
func (td *TypedData) EncodeType(name string) (string, error) {
	deps := map[string]bool{}
	if err := td.collect(name, deps, 0); err != nil {
		return "", err
	}
	delete(deps, name)
	rest := make([]string, 0, len(deps))
	for d := range deps {
		rest = append(rest, d)
	}
	sort.Strings(rest)
	var sb strings.Builder
	for _, t := range append([]string{name}, rest...) {
		sb.WriteString(t + "(")
		for i, f := range td.Types[t] {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(f.Type + " " + f.Name)
		}
		sb.WriteByte(')')
	}
	return sb.String(), nil
}

func (td *TypedData) collect(name string, seen map[string]bool, depth int) error {
	if seen[name] {
		return nil
	}
	fields, ok := td.Types[name]
	if !ok {
		return invalid("unknown type %q", name)
	}
	if depth > maxDepth {
		return invalid("types nest deeper than %d", maxDepth)
	}
	seen[name] = true
	for _, f := range fields {
		if f.Name == "" {
			return invalid("type %s has a field without a name", name)
		}
		if b := baseType(f.Type); td.Types[b] != nil {
			if err := td.collect(b, seen, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (td *TypedData) encodeData(name string, data map[string]any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, invalid("data nests deeper than %d", maxDepth)
	}
	fields, ok := td.Types[name]
	if !ok {
		return nil, invalid("unknown type %q", name)
	}
	sig, err := td.EncodeType(name)
	if err != nil {
		return nil, err
	}
	th := keccak([]byte(sig))
	out := append(make([]byte, 0, 32*(len(fields)+1)), th[:]...)
	for _, f := range fields {
		v, ok := data[f.Name]
		if !ok {
			return nil, invalid("%s.%s is missing", name, f.Name)
		}
		enc, err := td.encodeValue(f.Type, v, depth)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", name, f.Name, err)
		}
		out = append(out, enc[:]...)
	}
	if len(data) > len(fields) {
		for k := range data {
			if !hasField(fields, k) {
				return nil, invalid("%s has no field %q", name, k)
			}
		}
	}
	return out, nil
}

func hasField(fs []Field, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

var sized = regexp.MustCompile(`^(u?int|bytes)([0-9]+)$`)

func (td *TypedData) encodeValue(typ string, v any, depth int) ([32]byte, error) {
	var out [32]byte
	if depth > maxDepth {
		return out, invalid("values nest deeper than %d", maxDepth)
	}
	if m := arraySuffix.FindStringIndex(typ); m != nil {
		items, ok := v.([]any)
		if !ok {
			return out, invalid("%s wants an array, got %T", typ, v)
		}
		if n := typ[m[0]+1 : m[1]-1]; n != "" {
			if want, _ := strconv.Atoi(n); want != len(items) {
				return out, invalid("%s has %d items", typ, len(items))
			}
		}
		elem := typ[:m[0]]
		var buf []byte
		for i, it := range items {
			enc, err := td.encodeValue(elem, it, depth+1)
			if err != nil {
				return out, fmt.Errorf("[%d]: %w", i, err)
			}
			buf = append(buf, enc[:]...)
		}
		return keccak(buf), nil
	}
	if _, ok := td.Types[typ]; ok {
		m, ok := v.(map[string]any)
		if !ok {
			return out, invalid("%s wants an object, got %T", typ, v)
		}
		enc, err := td.encodeData(typ, m, depth+1)
		if err != nil {
			return out, err
		}
		return keccak(enc), nil
	}
	switch typ {
	case "string":
		s, ok := v.(string)
		if !ok {
			return out, invalid("string wants a string, got %T", v)
		}
		return keccak([]byte(s)), nil
	case "bytes":
		b, err := toBytes(v)
		if err != nil {
			return out, err
		}
		return keccak(b), nil
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return out, invalid("bool wants true or false, got %T", v)
		}
		if b {
			out[31] = 1
		}
		return out, nil
	case "address":
		s, ok := v.(string)
		if !ok {
			return out, invalid("address wants a 0x string, got %T", v)
		}
		a, err := identity.ParseAddress(s)
		if err != nil {
			return out, invalid("%v", err)
		}
		copy(out[12:], a[:])
		return out, nil
	}
	m := sized.FindStringSubmatch(typ)
	if m == nil {
		return out, invalid("unknown type %q", typ)
	}
	n, _ := strconv.Atoi(m[2])
	if m[1] == "bytes" {
		if n < 1 || n > 32 {
			return out, invalid("bad type %s", typ)
		}
		b, err := toBytes(v)
		if err != nil {
			return out, err
		}
		if len(b) != n {
			return out, invalid("%s value is %d bytes", typ, len(b))
		}
		copy(out[:], b)
		return out, nil
	}
	if n < 8 || n > 256 || n%8 != 0 {
		return out, invalid("bad type %s", typ)
	}
	x, err := toInt(v)
	if err != nil {
		return out, err
	}
	if m[1] == "uint" {
		if x.Sign() < 0 || x.BitLen() > n {
			return out, invalid("%s out of range: %s", typ, x)
		}
		x.FillBytes(out[:])
		return out, nil
	}
	limit := new(big.Int).Lsh(big.NewInt(1), uint(n-1))
	if x.Cmp(limit) >= 0 || x.Cmp(new(big.Int).Neg(limit)) < 0 {
		return out, invalid("%s out of range: %s", typ, x)
	}
	if x.Sign() < 0 { // two's complement in 256 bits
		x.Add(x, new(big.Int).Lsh(big.NewInt(1), 256))
	}
	x.FillBytes(out[:])
	return out, nil
}

func toBytes(v any) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case string:
		if !strings.HasPrefix(b, "0x") {
			return nil, invalid("bytes value %q is not 0x hex", b)
		}
		out, err := hex.DecodeString(b[2:])
		if err != nil {
			return nil, invalid("bytes value: %v", err)
		}
		return out, nil
	}
	return nil, invalid("bytes wants 0x hex, got %T", v)
}

var intPattern = regexp.MustCompile(`^-?(0|[1-9][0-9]*|0x[0-9a-fA-F]+)$`)

func toInt(v any) (*big.Int, error) {
	parse := func(s string) (*big.Int, error) {
		if len(s) > 80 {
			return nil, invalid("integer %q too long", s[:20])
		}
		// Exactly decimal or 0x hex: SetString's base 0 would also take
		// "1_000", "-0b1" and "+5", spellings other EIP-712 signers refuse.
		if !intPattern.MatchString(s) {
			return nil, invalid("%q is not a decimal or 0x integer", s)
		}
		x, ok := new(big.Int).SetString(s, 0)
		if !ok {
			return nil, invalid("%q is not a decimal or 0x integer", s)
		}
		return x, nil
	}
	switch n := v.(type) {
	case *big.Int:
		return new(big.Int).Set(n), nil
	case string:
		return parse(n)
	case json.Number:
		return parse(string(n))
	case int:
		return big.NewInt(int64(n)), nil
	case int64:
		return big.NewInt(n), nil
	case uint64:
		return new(big.Int).SetUint64(n), nil
	case float64:
		if n != float64(int64(n)) || n > 1<<53 || n < -(1<<53) {
			return nil, invalid("number %v is not an exact integer; pass it as a string", n)
		}
		return big.NewInt(int64(n)), nil
	}
	return nil, invalid("integer wants a number or string, got %T", v)
}

// Domain is an EIP-712 domain with the four usual members.
type Domain struct {
	Name              string
	Version           string
	ChainID           *big.Int
	VerifyingContract string
}

// TransferWithAuthorization is the EIP-3009 message (USDC's gasless
// transfer), the one x402's exact EVM scheme signs.
type TransferWithAuthorization struct {
	From        string
	To          string
	Value       *big.Int
	ValidAfter  *big.Int
	ValidBefore *big.Int
	Nonce       [32]byte
}

// NewTransferWithAuthorization builds the typed data of an EIP-3009 transfer.
func NewTransferWithAuthorization(d Domain, t TransferWithAuthorization) *TypedData {
	return &TypedData{
		Types: map[string][]Field{
			"EIP712Domain": {
				{Name: "name", Type: "string"}, {Name: "version", Type: "string"},
				{Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"},
			},
			"TransferWithAuthorization": {
				{Name: "from", Type: "address"}, {Name: "to", Type: "address"},
				{Name: "value", Type: "uint256"}, {Name: "validAfter", Type: "uint256"},
				{Name: "validBefore", Type: "uint256"}, {Name: "nonce", Type: "bytes32"},
			},
		},
		PrimaryType: "TransferWithAuthorization",
		Domain: map[string]any{
			"name": d.Name, "version": d.Version, "chainId": d.ChainID, "verifyingContract": d.VerifyingContract,
		},
		Message: map[string]any{
			"from": t.From, "to": t.To, "value": t.Value, "validAfter": t.ValidAfter,
			"validBefore": t.ValidBefore, "nonce": "0x" + hex.EncodeToString(t.Nonce[:]),
		},
	}
}

// RecoverAddress returns the EIP-55 address whose key made a 65-byte
// r||s||v signature (v 27 or 28, or 0 or 1) over digest.
func RecoverAddress(digest [32]byte, sig []byte) (string, error) {
	if len(sig) != 65 {
		return "", fmt.Errorf("eip712: signature is %d bytes, want 65", len(sig))
	}
	v := sig[64]
	if v >= 27 {
		v -= 27
	}
	if v > 1 {
		return "", fmt.Errorf("eip712: signature v %d", sig[64])
	}
	compact := make([]byte, 65)
	compact[0] = 27 + v
	copy(compact[1:], sig[:64])
	pub, _, err := ecdsa.RecoverCompact(compact, digest[:])
	if err != nil {
		return "", fmt.Errorf("eip712: recover: %w", err)
	}
	return identity.Address(pub), nil
}
