package fsys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/blob"
	"github.com/lifeos/life/lago/journal"
)

func newFS(t testing.TB) *FS {
	t.Helper()
	dir := t.TempDir()
	j, err := journal.Open(filepath.Join(dir, "j.db"), journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	b, err := blob.Open(filepath.Join(dir, "blobs"), blob.Options{Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	return New(j, b, nil, nil)
}

func TestWriteReadHistory(t *testing.T) {
	ctx := context.Background()
	f := newFS(t)
	st := aios.StreamID{Session: "s", Branch: "main"}
	must := func(seq uint64, err error) uint64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	s1 := must(f.Write(ctx, st, "a.txt", strings.NewReader("one"), 0, "text/plain"))
	s2 := must(f.Write(ctx, st, "dir/b.txt", strings.NewReader("bee"), 0o600, ""))
	s3 := must(f.Write(ctx, st, "a.txt", strings.NewReader("two"), 0, ""))
	s4 := must(f.Rename(ctx, st, "dir/b.txt", "c.txt"))
	s5 := must(f.Delete(ctx, st, "a.txt"))
	tests := []struct {
		seq   uint64
		files map[string]string
	}{
		{s1, map[string]string{"a.txt": "one"}},
		{s2, map[string]string{"a.txt": "one", "dir/b.txt": "bee"}},
		{s3, map[string]string{"a.txt": "two", "dir/b.txt": "bee"}},
		{s4, map[string]string{"a.txt": "two", "c.txt": "bee"}},
		{s5, map[string]string{"c.txt": "bee"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("seq", tt.seq), func(t *testing.T) {
			m, _, err := f.List(ctx, st, tt.seq)
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != len(tt.files) {
				t.Fatalf("manifest %v", m)
			}
			for p, want := range tt.files {
				got, err := f.ReadFile(ctx, st, p, tt.seq)
				if err != nil || string(got) != want {
					t.Fatalf("%s = %q, %v; want %q", p, got, err, want)
				}
			}
		})
	}
	m, _, _ := f.List(ctx, st, 0)
	if m["c.txt"].Mode != 0o600 {
		t.Fatalf("mode lost across rename: %v", m["c.txt"].Mode)
	}
	if _, err := f.ReadFile(ctx, st, "a.txt", 0); !errors.Is(err, aios.ErrNotFound) {
		t.Fatalf("deleted file: %v", err)
	}
	// snapshot then more writes: listing uses the snapshot and the tail
	if seq, err := f.Snapshot(ctx, st, 0); err != nil || seq != s5 {
		t.Fatalf("snapshot %d %v", seq, err)
	}
	must(f.Write(ctx, st, "d.txt", strings.NewReader("dee"), 0, ""))
	m, _, _ = f.List(ctx, st, 0)
	if !reflect.DeepEqual(m.Paths(), []string{"c.txt", "d.txt"}) {
		t.Fatalf("paths %v", m.Paths())
	}
	// restore the workspace of seq 3 into a branch, diverge, diff
	if err := f.Restore(ctx, st, s3, "restored"); err != nil {
		t.Fatal(err)
	}
	rb := aios.StreamID{Session: "s", Branch: "restored"}
	must(f.Write(ctx, rb, "a.txt", strings.NewReader("three"), 0, ""))
	if got, _ := f.ReadFile(ctx, rb, "dir/b.txt", 0); string(got) != "bee" {
		t.Fatalf("restored branch file %q", got)
	}
	ma, _, _ := f.List(ctx, st, 0)
	mb, _, _ := f.List(ctx, rb, 0)
	d := Diff(ma, mb)
	kinds := map[string]ChangeKind{}
	for _, c := range d {
		kinds[c.Path] = c.Kind
	}
	want := map[string]ChangeKind{"a.txt": Added, "c.txt": Removed, "d.txt": Removed, "dir/b.txt": Added}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("diff %v", d)
	}
	if got, _ := f.ReadFile(ctx, st, "a.txt", s3); string(got) != "two" {
		t.Fatalf("main history changed by branch: %q", got)
	}
}

func TestBadPaths(t *testing.T) {
	ctx := context.Background()
	f := newFS(t)
	st := aios.StreamID{Session: "s", Branch: "main"}
	for _, p := range []string{"", "/etc/passwd", "../x", "a/../../x", "a\x00b", ".", `a\b`} {
		if _, err := f.Write(ctx, st, p, strings.NewReader("x"), 0, ""); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("%q: %v", p, err)
		}
	}
	if _, err := f.Delete(ctx, st, "missing"); !errors.Is(err, aios.ErrNotFound) {
		t.Errorf("delete missing: %v", err)
	}
	if _, err := f.Rename(ctx, st, "missing", "b"); !errors.Is(err, aios.ErrNotFound) {
		t.Errorf("rename missing: %v", err)
	}
}

// TestModeOfStoredEvents: a FileWrite appended by a client with a bad mode
// is refused by Mode (the API's check) but folds with DefaultMode, so one
// such event does not fail every listing of its branch.
func TestModeOfStoredEvents(t *testing.T) {
	ctx := context.Background()
	f := newFS(t)
	st := aios.StreamID{Session: "s", Branch: "main"}
	tests := []struct {
		name, mode string // raw JSON, "" for none
		want       fs.FileMode
		bad        bool
	}{
		{"none", "", DefaultMode, false},
		{"0600", "384", 0o600, false},
		{"type bits dropped", "2147484141", 0o755, false},
		{"string", `"x"`, DefaultMode, true},
		{"negative", "-1", DefaultMode, true},
		{"over 32 bits", "4294967296", DefaultMode, true},
		{"fraction", "1.5", DefaultMode, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := aios.NewEnvelope(f.IDs, f.Clock, st.Session, st.Branch, &aios.FileWrite{Path: fmt.Sprint("f", i), BlobHash: blob.Hash(nil)})
			if tt.mode != "" {
				e.PayloadExtra = map[string]json.RawMessage{ModeKey: json.RawMessage(tt.mode)}
			}
			if m, err := Mode(e); m != tt.want || (err != nil) != tt.bad || (tt.bad && !errors.Is(err, ErrInvalidMode)) {
				t.Fatalf("Mode %v %v", m, err)
			}
			if _, err := f.J.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
			m, _, err := f.List(ctx, st, 0)
			if err != nil {
				t.Fatalf("list after a stored mode %s: %v", tt.mode, err)
			}
			if got := m[fmt.Sprint("f", i)].Mode; got != tt.want {
				t.Fatalf("folded mode %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzApply folds arbitrary file event payloads (what a client may append
// through the API): no panic, and an error only for a non-file event never.
func FuzzApply(f *testing.F) {
	for _, s := range []string{
		`{"type":"FileWrite","path":"a","blob_hash":"x","size_bytes":1,"mode":420}`,
		`{"type":"FileWrite","path":"../a","blob_hash":"","size_bytes":0,"mode":"x"}`,
		`{"type":"FileRename","old_path":"a","new_path":"a"}`,
		`{"type":"FileDelete","path":"a"}`,
		`{"type":"FileWrite","path":"a","mode":-1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		raw := `{"event_id":"e","session_id":"s","branch_id":"main","seq":1,"timestamp":1,"payload":` + payload + `,"metadata":{},"schema_version":1}`
		e, err := aios.DecodeEnvelope([]byte(raw))
		if err != nil {
			return
		}
		m := Manifest{"a": {Hash: "h"}}
		if _, err := m.Apply(e); err != nil {
			t.Fatalf("apply %s: %v", payload, err)
		}
		if b, err := json.Marshal(m); err != nil {
			t.Fatal(err)
		} else if _, err := Projection.Decode(b); err != nil {
			t.Fatalf("snapshot of %s does not decode: %v", b, err)
		}
	})
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "/abs", "a/./b", "", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := CleanPath(p)
		if err != nil {
			return
		}
		if strings.HasPrefix(c, "/") || c == ".." || strings.HasPrefix(c, "../") || filepath.IsAbs(c) {
			t.Fatalf("%q cleaned to escaping %q", p, c)
		}
	})
}

func Example() {
	dir, _ := os.MkdirTemp("", "fsys")
	defer os.RemoveAll(dir)
	j, _ := journal.Open(filepath.Join(dir, "j.db"), journal.Options{})
	defer j.Close()
	b, _ := blob.Open(filepath.Join(dir, "blobs"), blob.Options{})
	f := New(j, b, nil, nil)
	ctx := context.Background()
	st := aios.StreamID{Session: "s", Branch: "main"}
	first, _ := f.Write(ctx, st, "notes.md", strings.NewReader("v1"), 0, "text/markdown")
	f.Write(ctx, st, "notes.md", strings.NewReader("v2"), 0, "text/markdown")
	now, _ := f.ReadFile(ctx, st, "notes.md", 0)
	then, _ := f.ReadFile(ctx, st, "notes.md", first)
	fmt.Println(string(now), string(then))
	// Output: v2 v1
}

// TestWriteFailureLeavesNoDanglingEvent stops Write at each of its two
// durable steps and checks the journal never names a blob that is not
// stored: a failed journal append leaves at most an orphan blob, a failed
// blob write appends nothing.
func TestWriteFailureLeavesNoDanglingEvent(t *testing.T) {
	ctx := context.Background()
	st := aios.StreamID{Session: "s", Branch: "main"}
	data := "contents"
	tests := []struct {
		name        string
		maxSize     int64 // blob store limit: below len(data) fails the blob step
		closeJ      bool  // the journal append fails
		wantOrphan  bool
		wantWritten bool
	}{
		{name: "both succeed", wantWritten: true},
		{name: "journal append fails", closeJ: true, wantOrphan: true},
		{name: "blob write fails", maxSize: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			jpath := filepath.Join(dir, "j.db")
			j, err := journal.Open(jpath, journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := blob.Open(filepath.Join(dir, "blobs"), blob.Options{MaxSize: tt.maxSize})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := New(j, b, nil, nil).Write(ctx, st, "keep.txt", strings.NewReader("k"), 0, ""); err != nil {
				t.Fatal(err)
			}
			if tt.closeJ {
				j.Close()
			}
			_, err = New(j, b, nil, nil).Write(ctx, st, "f.txt", strings.NewReader(data), 0, "")
			if tt.wantWritten != (err == nil) {
				t.Fatalf("write: %v", err)
			}
			j.Close()
			j, err = journal.Open(jpath, journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			f := New(j, b, nil, nil)
			m, _, err := f.List(ctx, st, 0)
			if err != nil {
				t.Fatal(err)
			}
			for p, e := range m {
				if !b.Has(e.Hash) {
					t.Fatalf("%s names blob %s, not stored", p, e.Hash)
				}
			}
			if _, ok := m["f.txt"]; ok != tt.wantWritten {
				t.Fatalf("f.txt in the manifest: %v", ok)
			}
			if got := b.Has(blob.Hash([]byte(data))); got != (tt.wantWritten || tt.wantOrphan) {
				t.Fatalf("blob stored: %v", got)
			}
		})
	}
}
