package custody_test

import (
	"context"
	"fmt"
	"math/big"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/eip712"
	"github.com/lifeos/life/anima/identity"
)

func ExampleNewInProcess() {
	var seed identity.Seed // all zeros: for the example only
	c, err := custody.NewInProcess(seed)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	td := eip712.NewTransferWithAuthorization(
		eip712.Domain{Name: "USD Coin", Version: "2", ChainID: big.NewInt(8453), VerifyingContract: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"},
		eip712.TransferWithAuthorization{From: c.WalletAddress(), To: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
			Value: big.NewInt(10_000), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(2_000_000_000)})
	sig, err := c.SignTypedData(ctx, td)
	if err != nil {
		panic(err)
	}
	h, _ := td.Hash()
	signer, _ := eip712.RecoverAddress(h, sig)
	fmt.Println(c.Backend(), len(sig), signer == c.WalletAddress())
	_, err = c.SignDigest(ctx, aios.KeyWallet, []byte("short"))
	fmt.Println(err)
	// Output:
	// in-process 65 true
	// custody: bad request: digest is 5 bytes, want 32
}
