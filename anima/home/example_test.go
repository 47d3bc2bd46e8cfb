package home_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lifeos/life/anima/home"
	"github.com/lifeos/life/anima/seal"
)

func ExampleCreate() {
	tmp, _ := os.MkdirTemp("", "anima-example-")
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "agent")
	pass := []byte("a long passphrase, never stored")
	kdf := seal.Params{Time: 1, MemoryKiB: 64, Threads: 1} // fast, for the example only

	_, id, err := home.Create(context.Background(), dir, pass, home.Options{Name: "scout", KDF: kdf})
	if err != nil {
		panic(err)
	}
	_, next, err := home.Rotate(context.Background(), dir, pass, kdf, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(id.DID, "did:key:zDn"), next.GenesisDID == id.DID, len(next.History))
	// Output: true true 2
}
