package lagoremote_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/bridges/lagoremote"
	"github.com/lifeos/life/lago/server"
	"github.com/lifeos/life/lago/store"
)

// A daemon that follows a journal it does not own appends and reads through
// lagod's HTTP API as through any aios.Journal.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "lagod")
	defer os.RemoveAll(dir)
	st, _ := store.Open(dir, store.Options{})
	defer st.Close()
	lagod := httptest.NewServer(server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer lagod.Close()

	j, err := lagoremote.New(lagod.URL, lagoremote.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	ids := aios.NewULIDGenerator(nil, nil)
	seqs, err := j.Append(ctx,
		aios.NewEnvelope(ids, aios.SystemClock{}, "s1", "main", &aios.UserMessage{Content: "hello"}),
		aios.NewEnvelope(ids, aios.SystemClock{}, "s1", "main", &aios.ErrorRaised{Message: "boom"}))
	fmt.Println(seqs, err)
	for e, err := range j.Read(ctx, aios.ReadQuery{Stream: aios.StreamID{Session: "s1", Branch: "main"}}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Seq, e.Payload.Type())
	}
	// Output:
	// [1 2] <nil>
	// 1 UserMessage
	// 2 ErrorRaised
}
