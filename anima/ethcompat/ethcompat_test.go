package ethcompat

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/eip712"
	"github.com/lifeos/life/anima/identity"
)

type kat struct {
	Seed            string `json:"seed"`
	Secp256k1Scalar string `json:"secp256k1_scalar"`
	WalletAddress   string `json:"wallet_address"`
}

func loadKAT(t *testing.T) []kat {
	b, err := os.ReadFile("../identity/testdata/kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var v []kat
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func seedOf(t *testing.T, h string) identity.Seed {
	var s identity.Seed
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad seed %q", h)
	}
	copy(s[:], b)
	return s
}

// The known-answer addresses agree with go-ethereum's derivation.
func TestAddressMatchesGoEthereum(t *testing.T) {
	for _, v := range loadKAT(t) {
		priv, err := crypto.HexToECDSA(v.Secp256k1Scalar)
		if err != nil {
			t.Fatal(err)
		}
		if got := crypto.PubkeyToAddress(priv.PublicKey).Hex(); got != v.WalletAddress {
			t.Errorf("go-ethereum says %s, KAT says %s", got, v.WalletAddress)
		}
		k, err := identity.Derive(seedOf(t, v.Seed))
		if err != nil {
			t.Fatal(err)
		}
		if k.WalletAddress() != v.WalletAddress {
			t.Errorf("anima derives %s", k.WalletAddress())
		}
	}
}

func transfer(t *testing.T, from string) (*eip712.TypedData, apitypes.TypedData) {
	var nonce [32]byte
	for i := range nonce {
		nonce[i] = byte(i * 7)
	}
	d := eip712.Domain{Name: "USD Coin", Version: "2", ChainID: big.NewInt(84532),
		VerifyingContract: "0x036CbD53842c5426634e7929541eC2318f3dCF7e"}
	msg := eip712.TransferWithAuthorization{From: from, To: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
		Value: big.NewInt(1_000_000), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(1_900_000_000), Nonce: nonce}
	ours := eip712.NewTransferWithAuthorization(d, msg)
	theirs := apitypes.TypedData{
		Types: apitypes.Types{
			"EIP712Domain": {{Name: "name", Type: "string"}, {Name: "version", Type: "string"},
				{Name: "chainId", Type: "uint256"}, {Name: "verifyingContract", Type: "address"}},
			"TransferWithAuthorization": {{Name: "from", Type: "address"}, {Name: "to", Type: "address"},
				{Name: "value", Type: "uint256"}, {Name: "validAfter", Type: "uint256"},
				{Name: "validBefore", Type: "uint256"}, {Name: "nonce", Type: "bytes32"}},
		},
		PrimaryType: "TransferWithAuthorization",
		Domain: apitypes.TypedDataDomain{Name: d.Name, Version: d.Version,
			ChainId: math.NewHexOrDecimal256(84532), VerifyingContract: d.VerifyingContract},
		Message: apitypes.TypedDataMessage{
			"from": from, "to": msg.To, "value": "1000000", "validAfter": "0",
			"validBefore": "1900000000", "nonce": "0x" + hex.EncodeToString(nonce[:]),
		},
	}
	return ours, theirs
}

// EIP-3009 TransferWithAuthorization: same digest as go-ethereum, and the
// custody's 65-byte signature recovers, in go-ethereum, to the wallet.
func TestTransferWithAuthorization(t *testing.T) {
	ctx := context.Background()
	for _, v := range loadKAT(t) {
		c, err := custody.NewInProcess(seedOf(t, v.Seed))
		if err != nil {
			t.Fatal(err)
		}
		ours, theirs := transfer(t, c.WalletAddress())
		h, err := ours.Hash()
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := apitypes.TypedDataAndHash(theirs)
		if err != nil {
			t.Fatal(err)
		}
		if !bytesEq(h[:], want) {
			t.Fatalf("digest %x, go-ethereum %x", h, want)
		}
		sig, err := c.SignTypedData(ctx, ours)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 65 || (sig[64] != 27 && sig[64] != 28) {
			t.Fatalf("signature %x is not r||s||v with v 27/28", sig)
		}
		geth := append([]byte(nil), sig...)
		geth[64] -= 27 // go-ethereum wants v in {0, 1}
		pub, err := crypto.SigToPub(want, geth)
		if err != nil {
			t.Fatal(err)
		}
		if got := crypto.PubkeyToAddress(*pub); got != common.HexToAddress(c.WalletAddress()) {
			t.Fatalf("recovers to %s, wallet %s", got.Hex(), c.WalletAddress())
		}
		if !crypto.VerifySignature(crypto.CompressPubkey(pub), want, sig[:64]) {
			t.Fatal("go-ethereum rejects the signature (high S?)")
		}
		// And the other way: our recovery agrees.
		addr, err := eip712.RecoverAddress(h, sig)
		if err != nil || addr != c.WalletAddress() {
			t.Fatalf("eip712.RecoverAddress = %s, %v", addr, err)
		}
		// SignDigest with the wallet key is the same Ethereum-style signature.
		ds, err := c.SignDigest(ctx, aios.KeyWallet, want)
		if err != nil || !bytesEq(ds, sig) {
			t.Fatalf("SignDigest %x differs from SignTypedData %x (%v)", ds, sig, err)
		}
	}
}

// A general typed-data document (the EIP-712 spec's Mail example extended
// with arrays, bytes, bool and signed integers) hashes as go-ethereum does.
func TestGeneralTypedDataMatchesGoEthereum(t *testing.T) {
	doc := `{
	  "types": {
	    "EIP712Domain": [{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
	    "Person": [{"name":"name","type":"string"},{"name":"wallets","type":"address[]"}],
	    "Mail": [{"name":"from","type":"Person"},{"name":"to","type":"Person[]"},{"name":"contents","type":"string"},
	             {"name":"attachment","type":"bytes"},{"name":"urgent","type":"bool"},{"name":"delta","type":"int64"},
	             {"name":"tag","type":"bytes4"},{"name":"counts","type":"uint8[2]"}]
	  },
	  "primaryType": "Mail",
	  "domain": {"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
	  "message": {
	    "from": {"name":"Cow","wallets":["0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826","0xDeaDbeefdEAdbeefdEadbEEFdeadbeEFdEaDbeeF"]},
	    "to": [{"name":"Bob","wallets":["0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"]}],
	    "contents": "Hello, Bob!",
	    "attachment": "0xdeadbeef00",
	    "urgent": true,
	    "delta": "-42",
	    "tag": "0x01020304",
	    "counts": ["1", "255"]
	  }
	}`
	ours, err := eip712.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	h, err := ours.Hash()
	if err != nil {
		t.Fatal(err)
	}
	var theirs apitypes.TypedData
	if err := json.Unmarshal([]byte(doc), &theirs); err != nil {
		t.Fatal(err)
	}
	want, _, err := apitypes.TypedDataAndHash(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytesEq(h[:], want) {
		t.Fatalf("digest %x, go-ethereum %x", h, want)
	}
}

func bytesEq(a, b []byte) bool { return hex.EncodeToString(a) == hex.EncodeToString(b) }
