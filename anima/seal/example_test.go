package seal_test

import (
	"errors"
	"fmt"

	"github.com/lifeos/life/anima/identity"
	"github.com/lifeos/life/anima/seal"
)

func ExampleSeal() {
	var seed identity.Seed
	s, err := seal.Seal(seed, []byte("correct horse"), seal.Params{Time: 1, MemoryKiB: 64, Threads: 1}, nil)
	if err != nil {
		panic(err)
	}
	_, err = s.Open([]byte("wrong"))
	fmt.Println(errors.Is(err, seal.ErrWrongPassphrase))
	back, err := s.Open([]byte("correct horse"))
	fmt.Println(err, back == seed)
	// Output:
	// true
	// <nil> true
}
