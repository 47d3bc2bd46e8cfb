package knowledge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/blob"
	"github.com/lifeos/life/lago/fsys"
	"github.com/lifeos/life/lago/journal"
)

func loadCorpus(t testing.TB) *Index {
	t.Helper()
	ix := NewIndex()
	files, _ := filepath.Glob("testdata/notes/*.md")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(filepath.Base(f), b)
		if err != nil {
			t.Fatal(err)
		}
		ix.Add(d)
	}
	return ix
}

func TestSearchCorpus(t *testing.T) {
	ix := loadCorpus(t)
	raw, _ := os.ReadFile("testdata/queries.json")
	var queries []struct{ Query, Top string }
	if err := json.Unmarshal(raw, &queries); err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		t.Run(q.Query, func(t *testing.T) {
			hits := ix.Search(q.Query, 3)
			if len(hits) == 0 || hits[0].ID != q.Top {
				t.Fatalf("top hits %v, want %s first", hits, q.Top)
			}
		})
	}
	if hits := ix.Search("quantum chromodynamics", 5); len(hits) != 0 {
		t.Fatalf("unrelated query hits %v", hits)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, id, src string
		title         string
		tags, links   []string
		err           error
	}{
		{"front matter", "a.md", "---\ntitle: T\ntags: [x, y]\n---\nsee [[B]] and [[C|see c]] and [[B#part]]", "T", []string{"x", "y"}, []string{"B", "C"}, nil},
		{"heading title", "dir/n.md", "# Heading\nbody [[ X ]]", "Heading", nil, []string{"X"}, nil},
		{"file title", "dir/plain.md", "no heading", "plain", nil, nil, nil},
		{"tag string", "a.md", "---\ntags: one, two\n---\n", "a", []string{"one", "two"}, nil, nil},
		{"unclosed", "a.md", "---\ntitle: x\n", "", nil, nil, ErrFrontMatter},
		{"bad yaml", "a.md", "---\ntitle: [\n---\n", "", nil, nil, ErrFrontMatter},
		{"broken links", "a.md", "[[a\nb]] [[]] [[ok]] [[x [[y]]", "a", nil, []string{"ok", "y"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(tt.id, []byte(tt.src))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil || d.Title != tt.title || !reflect.DeepEqual(d.Tags, tt.tags) || !reflect.DeepEqual(d.Links, tt.links) {
				t.Fatalf("%+v %v", d, err)
			}
		})
	}
}

func TestTraverse(t *testing.T) {
	ix := loadCorpus(t)
	nodes, err := ix.Traverse("journal.md", 2, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nodes {
		got = append(got, fmt.Sprintf("%s@%d", n.ID, n.Depth))
	}
	want := []string{"journal.md@0", "hash-chain.md@1", "group-commit.md@1", "bbolt.md@1", "blake3.md@2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("traverse %v, want %v", got, want)
	}
	nodes, _ = ix.Traverse("Blake3", 1, true)
	if len(nodes) != 3 { // blake3, blob store (out), hash chain (back)
		t.Fatalf("with backlinks %v", nodes)
	}
	if _, err := ix.Traverse("nope", 1, false); err == nil {
		t.Fatal("traverse from a missing doc")
	}
	if m := ix.MissingLinks(); !reflect.DeepEqual(m, map[string][]string{"blob-store.md": {"Missing Page"}}) {
		t.Fatalf("missing %v", m)
	}
}

// TestWorkspaceFollowsJournal writes notes through the session filesystem
// and checks the index follows writes, renames and deletes.
func TestWorkspaceFollowsJournal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j, err := journal.Open(filepath.Join(dir, "j.db"), journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	bs, _ := blob.Open(filepath.Join(dir, "blobs"), blob.Options{})
	f := fsys.New(j, bs, nil, nil)
	st := aios.StreamID{Session: "s", Branch: "main"}
	files, _ := filepath.Glob("testdata/notes/*.md")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		if _, err := f.Write(ctx, st, "notes/"+filepath.Base(p), bytes.NewReader(b), 0, "text/markdown"); err != nil {
			t.Fatal(err)
		}
	}
	f.Write(ctx, st, "image.png", bytes.NewReader([]byte{1, 2}), 0, "")
	f.Write(ctx, st, "bad.md", bytes.NewReader([]byte("---\ntitle: [\n---\n")), 0, "")
	w := NewWorkspace(f, st)
	if _, err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if w.Index().Len() != len(files) || len(w.Errors()) != 1 {
		t.Fatalf("indexed %d docs, errors %v", w.Index().Len(), w.Errors())
	}
	if h := w.Index().Search("sourdough", 1); len(h) != 1 || h[0].ID != "notes/cooking.md" {
		t.Fatalf("hits %v", h)
	}
	f.Rename(ctx, st, "notes/cooking.md", "notes/bread.md")
	f.Delete(ctx, st, "notes/sse.md")
	f.Write(ctx, st, "notes/new.md", bytes.NewReader([]byte("# Quasar\nA quasar note")), 0, "")
	if _, err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if h := w.Index().Search("sourdough", 1); len(h) != 1 || h[0].ID != "notes/bread.md" {
		t.Fatalf("after rename %v", h)
	}
	if h := w.Index().Search("reconnects", 1); len(h) != 0 {
		t.Fatalf("deleted note still found: %v", h)
	}
	if h := w.Index().Search("quasar", 1); len(h) != 1 {
		t.Fatalf("new note not found")
	}
}

// TestWorkspaceUnreadableNotes: FileWrite events naming a blob that is not
// stored or not a hash (imported, or appended through the API) are errors
// of those notes; the rest of the workspace is still indexed.
func TestWorkspaceUnreadableNotes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j, err := journal.Open(filepath.Join(dir, "j.db"), journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	bs, _ := blob.Open(filepath.Join(dir, "blobs"), blob.Options{})
	f := fsys.New(j, bs, nil, nil)
	st := aios.StreamID{Session: "s", Branch: "main"}
	ids := aios.NewULIDGenerator(nil, nil)
	for _, fw := range []*aios.FileWrite{
		{Path: "absent.md", BlobHash: blob.Hash([]byte("never stored")), SizeBytes: 12},
		{Path: "bad-hash.md", BlobHash: "../../journal.db", SizeBytes: 1},
	} {
		if _, err := j.Append(ctx, aios.NewEnvelope(ids, aios.SystemClock{}, st.Session, st.Branch, fw)); err != nil {
			t.Fatal(err)
		}
	}
	f.Write(ctx, st, "good.md", bytes.NewReader([]byte("# Quasar\nA quasar note")), 0, "")
	w := NewWorkspace(f, st)
	if _, err := w.Sync(ctx); err != nil {
		t.Fatalf("sync with unreadable notes: %v", err)
	}
	errs := w.Errors()
	if len(errs) != 2 || !errors.Is(errs["absent.md"], aios.ErrNotFound) || !errors.Is(errs["bad-hash.md"], blob.ErrInvalidHash) {
		t.Fatalf("errors %v", errs)
	}
	if h := w.Index().Search("quasar", 1); len(h) != 1 || h[0].ID != "good.md" {
		t.Fatalf("hits %v", h)
	}
	f.Delete(ctx, st, "absent.md")
	if _, err := w.Sync(ctx); err != nil || len(w.Errors()) != 1 {
		t.Fatalf("after delete: %v %v", err, w.Errors())
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/notes/*.md")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("---\n---\n[[x|y]]"))
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := Parse("f.md", src)
		if err != nil {
			return
		}
		ix := NewIndex()
		ix.Add(d)
		ix.Search(d.Title, 1)
		if _, err := ix.Traverse("f.md", 2, true); err != nil {
			t.Fatal(err)
		}
	})
}

func ExampleIndex_Search() {
	ix := NewIndex()
	for id, src := range map[string]string{
		"a.md": "# Alpha\nabout [[Beta]] and databases",
		"b.md": "# Beta\nabout cooking",
	} {
		d, _ := Parse(id, []byte(src))
		ix.Add(d)
	}
	fmt.Println(ix.Search("databases", 1)[0].ID)
	nodes, _ := ix.Traverse("a.md", 1, false)
	fmt.Println(len(nodes), nodes[1].Title)
	// Output:
	// a.md
	// 2 Beta
}
