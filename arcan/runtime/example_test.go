package runtime_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/provider/mock"
	"github.com/lifeos/life/arcan/runtime"
	"github.com/lifeos/life/lago/journal"
)

// A run on the lago journal with the mock provider, then the same
// conversation rebuilt from the journal alone.
func Example() {
	dir, _ := os.MkdirTemp("", "arcan-example-")
	defer os.RemoveAll(dir)
	j, err := journal.Open(filepath.Join(dir, "journal.db"), journal.Options{})
	if err != nil {
		panic(err)
	}
	defer j.Close()

	rt, err := runtime.New(runtime.Config{Journal: j, Provider: mock.New()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	id, _ := rt.CreateSession(ctx, "example", nil)
	stream := aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
	res, err := rt.Run(ctx, stream, runtime.RunOptions{Input: "hello"})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Status)

	replayed, _ := runtime.Reconstruct(ctx, j, stream)
	fmt.Print(replayed.Transcript())
	// Output:
	// completed
	// user: hello
	// assistant: You said: "hello". I am the mock provider (no model behind me): ask me to list the files here, or to read a file by name.
}
