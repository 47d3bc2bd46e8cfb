package identity_test

import (
	"fmt"

	"github.com/lifeos/life/anima/identity"
)

func ExampleDerive() {
	var seed identity.Seed
	for i := range seed {
		seed[i] = byte(i)
	}
	k, err := identity.Derive(seed)
	if err != nil {
		panic(err)
	}
	fmt.Println(k.DID())
	fmt.Println(k.WalletAddress())
	// Output:
	// did:key:zDnaeYpu2WigB5WSkeZKMR9Fiye5knQQCee467kQhccbruitW
	// 0x8D3877fc9d011190Cc9089Dc8B63283414f8049a
}
