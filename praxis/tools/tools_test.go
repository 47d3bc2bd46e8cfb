package tools

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/praxis/sandbox"
)

func testEnv(t testing.TB) *Env {
	t.Helper()
	root := t.TempDir()
	mem := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "a.txt"), []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsp, err := sandbox.NewFsPolicy(root, sandbox.FsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	memp, err := sandbox.NewFsPolicy(mem, sandbox.FsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fsp.Close(); _ = memp.Close() })
	return &Env{FS: fsp, Memory: memp}
}

// FuzzToolArgs feeds arbitrary argument bytes to every canonical tool but
// bash (which would run them): no panic, no Go error, and any failure is an
// error result with a JSON body.
func FuzzToolArgs(f *testing.F) {
	for _, s := range []string{
		`{"path":"a.txt"}`, `{"path":"a.txt","offset":1,"limit":1}`, `{"path":"../x"}`,
		`{"path":"b.txt","content":"x"}`, `{"path":"a.txt","ops":[{"op":"delete_line","tag":"00000000"}]}`,
		`{"pattern":"**/*.txt"}`, `{"pattern":"o","ignore_case":true}`, `{"name":"n","content":"c","append":true}`,
		`null`, `[]`, `{"path":1}`, ``,
	} {
		f.Add(uint8(0), []byte(s))
	}
	env := testEnv(f)
	ts := All(env)
	f.Fuzz(func(t *testing.T, which uint8, args []byte) {
		tool := ts[int(which)%len(ts)]
		res, err := tool.Call(context.Background(), json.RawMessage(args))
		if err != nil {
			t.Fatalf("%s: Go error %v", tool.Spec().Name, err)
		}
		if !json.Valid(res.Output) {
			t.Fatalf("%s: output not JSON: %q", tool.Spec().Name, res.Output)
		}
		for _, ev := range res.Events {
			if _, err := aios.MarshalPayload(ev); err != nil {
				t.Fatalf("%s: event does not encode: %v", tool.Spec().Name, err)
			}
		}
	})
}
