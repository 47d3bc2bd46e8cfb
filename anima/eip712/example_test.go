package eip712_test

import (
	"context"
	"fmt"
	"math/big"

	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/eip712"
	"github.com/lifeos/life/anima/identity"
)

func ExampleNewTransferWithAuthorization() {
	wallet, err := custody.NewInProcess(identity.Seed{42})
	if err != nil {
		panic(err)
	}
	td := eip712.NewTransferWithAuthorization(
		eip712.Domain{Name: "USD Coin", Version: "2", ChainID: big.NewInt(8453),
			VerifyingContract: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"},
		eip712.TransferWithAuthorization{From: wallet.WalletAddress(), To: "0x0000000000000000000000000000000000000002",
			Value: big.NewInt(1_000_000), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(1_900_000_000)})
	sig, err := wallet.SignTypedData(context.Background(), td) // r || s || v
	if err != nil {
		panic(err)
	}
	digest, _ := td.Hash()
	signer, _ := eip712.RecoverAddress(digest, sig)
	fmt.Println(len(sig), signer == wallet.WalletAddress())
	// Output: 65 true
}
