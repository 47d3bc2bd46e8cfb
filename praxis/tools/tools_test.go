package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/praxis/hashline"
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

// TestConcurrentEditsKeepEachOther: parallel edit_file calls on different
// lines, all made from the same read, and parallel write_memory appends:
// each read-modify-write sees the one before it, so none is lost.
func TestConcurrentEditsKeepEachOther(t *testing.T) {
	env := testEnv(t)
	const n = 12
	var src strings.Builder
	for i := range n {
		fmt.Fprintf(&src, "line %d\n", i)
	}
	if err := os.WriteFile(filepath.Join(env.FS.Root(), "c.txt"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tags := hashline.Parse([]byte(src.String())).Tags()
	edit, wm := &editFile{env}, &writeMemory{env}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			args := fmt.Sprintf(`{"path":"c.txt","ops":[{"op":"replace_line","tag":"%d:%s","text":"edited %d"}]}`, i+1, tags[i], i)
			if res, err := edit.Call(t.Context(), json.RawMessage(args)); err != nil || res.IsError {
				t.Errorf("edit %d: %v %s", i, err, res.Output)
			}
			if res, err := wm.Call(t.Context(), json.RawMessage(fmt.Sprintf(`{"name":"log","content":"<%d>","append":true}`, i))); err != nil || res.IsError {
				t.Errorf("append %d: %v %s", i, err, res.Output)
			}
		})
	}
	wg.Wait()
	b, _ := os.ReadFile(filepath.Join(env.FS.Root(), "c.txt"))
	notes, _ := os.ReadFile(filepath.Join(env.Memory.Root(), "log.md"))
	for i := range n {
		if !strings.Contains(string(b), fmt.Sprintf("edited %d\n", i)) {
			t.Errorf("edit %d lost:\n%s", i, b)
		}
		if !strings.Contains(string(notes), fmt.Sprintf("<%d>", i)) {
			t.Errorf("append %d lost: %s", i, notes)
		}
	}
}
