package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

var lagoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lago-cli-test")
	if err != nil {
		panic(err)
	}
	lagoBin = filepath.Join(dir, "lago")
	if out, err := exec.Command("go", "build", "-o", lagoBin, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("build lago: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const fixtures = "../../../aios/testdata/conformance"

func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(lagoBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := run(t, "", args...)
	if code != 0 {
		t.Fatalf("lago %v: exit %d: %s", args, code, errs)
	}
	return out
}

// normalize drops what the journal adds (seq, digest) so an export can be
// compared with its fixture.
func normalize(t *testing.T, raw []byte) []map[string]any {
	t.Helper()
	var evs []map[string]any
	if err := json.Unmarshal(raw, &evs); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, raw)
	}
	for _, e := range evs {
		e["seq"] = 0.0
		if md, ok := e["metadata"].(map[string]any); ok {
			delete(md, "digest")
		}
	}
	return evs
}

func TestImportExportRoundTrip(t *testing.T) {
	tests := []struct {
		file, session string
	}{
		{"simple-chat.json", "GOLDEN-SIMPLE-CHAT"},
		{"tool-round-trip.json", "GOLDEN-TOOL-RT"},
		{"forward-compat.json", "GOLDEN-FORWARD-COMPAT"},
		{"branch-fork.json", "GOLDEN-BRANCH-FORK"},
		{"all-kinds.json", "GOLDEN-ALL-KINDS"},
	}
	data := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(fixtures, tt.file)
			mustRun(t, "import", "--data", data, path)
			out := mustRun(t, "import", "--data", data, path) // idempotent
			if !strings.Contains(out, "0 new") {
				t.Fatalf("re-import stored again: %s", out)
			}
			exported := mustRun(t, "export", "--data", data, "--session", tt.session)
			want, _ := os.ReadFile(path)
			if got, w := normalize(t, []byte(exported)), normalize(t, want); !reflect.DeepEqual(got, w) {
				t.Fatalf("export differs from fixture\n got %v\nwant %v", got, w)
			}
			// the export imports into a fresh dir and exports identically
			other := t.TempDir()
			f := filepath.Join(other, "export.json")
			os.WriteFile(f, []byte(exported), 0o600)
			mustRun(t, "import", "--data", filepath.Join(other, "d"), f)
			again := mustRun(t, "export", "--data", filepath.Join(other, "d"), "--session", tt.session)
			if again != exported {
				t.Fatalf("re-export differs:\n%s\n%s", again, exported)
			}
		})
	}
	var child []map[string]any
	json.Unmarshal([]byte(mustRun(t, "export", "--data", data, "--session", "GOLDEN-BRANCH-FORK", "--branch", "feature-x")), &child)
	if len(child) != 2 || child[0]["seq"] != 4.0 || child[1]["seq"] != 5.0 {
		t.Fatalf("feature-x export %v", child)
	}
	if out := mustRun(t, "verify", "--data", data); !strings.Contains(out, "ok:") {
		t.Fatalf("verify: %s", out)
	}
	if out := mustRun(t, "stats", "--data", data); !strings.Contains(out, "GOLDEN-BRANCH-FORK/feature-x head=5 (from main@3)") {
		t.Fatalf("stats: %s", out)
	}
}

func TestVerifyFailsOnTamper(t *testing.T) {
	data := t.TempDir()
	mustRun(t, "import", "--data", data, filepath.Join(fixtures, "tool-round-trip.json"))
	db, err := bolt.Open(filepath.Join(data, "journal.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("log")) // one stream: the second record is seq 2
		c := b.Cursor()
		c.First()
		k, v := c.Next() // seq 2
		v = bytes.Replace(v, []byte(`"type"`), []byte(`"typE"`), 1)
		return b.Put(append([]byte(nil), k...), v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, errs, code := run(t, "", "verify", "--data", data)
	if code != 1 || !strings.Contains(errs, "broken at seq 2") {
		t.Fatalf("verify after tamper: exit %d: %s", code, errs)
	}
}

func TestBadInput(t *testing.T) {
	data := t.TempDir()
	bad := filepath.Join(t.TempDir(), "bad.json")
	tests := []struct {
		name    string
		content string
		args    []string
		code    int
		msg     string
	}{
		{"not json", "{", []string{"import", "--data", data, bad}, 1, "decode envelope array"},
		{"not an array", `{"a":1}`, []string{"import", "--data", data, bad}, 1, "decode envelope array"},
		{"malformed known kind", `[{"event_id":"e","session_id":"s","branch_id":"main","seq":0,"timestamp":1,"payload":{"type":"UserMessage"},"metadata":{},"schema_version":1}]`,
			[]string{"import", "--data", data, bad}, 1, "content"},
		{"second event invalid", `[{"event_id":"e1","session_id":"s","branch_id":"main","seq":0,"timestamp":1,"payload":{"type":"UserMessage","content":"x"},"metadata":{},"schema_version":1},
		  {"event_id":"","session_id":"s","branch_id":"main","seq":0,"timestamp":1,"payload":{"type":"UserMessage","content":"x"},"metadata":{},"schema_version":1}]`,
			[]string{"import", "--data", data, bad}, 1, "event_id is empty"},
		{"no data flag", `[]`, []string{"verify"}, 2, "--data"},
		{"missing file", ``, []string{"import", "--data", data, "/nonexistent.json"}, 1, "no such file"},
		{"unknown flag", ``, []string{"export", "--data", data, "--session", "s", "--bogus"}, 2, "unknown flag"},
		{"bench bad writers", ``, []string{"bench", "--writers", "1,x"}, 2, "bad count"},
		{"verify missing dir", ``, []string{"verify", "--data", filepath.Join(data, "nope")}, 1, "no journal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(bad, []byte(tt.content), 0o600)
			_, errs, code := run(t, "", tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tt.code, errs, tt.msg)
			}
		})
	}
	// a file of more than one batch whose last event cannot be applied
	var big strings.Builder
	big.WriteString("[")
	for i := range 1500 {
		fmt.Fprintf(&big, `{"event_id":"e%d","session_id":"big","branch_id":"main","seq":0,"timestamp":1,"payload":{"type":"UserMessage","content":"x"},"metadata":{},"schema_version":1},`, i)
	}
	big.WriteString(`{"event_id":"fork","session_id":"big","branch_id":"main","seq":0,"timestamp":1,"payload":{"type":"BranchCreated","new_branch_id":"b","fork_point_seq":99999,"name":"b"},"metadata":{},"schema_version":1}]`)
	os.WriteFile(bad, []byte(big.String()), 0o600)
	if _, errs, code := run(t, "", "import", "--data", data, bad); code != 1 || !strings.Contains(errs, "fork point 99999") {
		t.Fatalf("import with a bad fork point: exit %d: %s", code, errs)
	}
	// nothing partial was written by the failed imports
	if _, err := os.Stat(filepath.Join(data, "journal.db")); err == nil {
		out := mustRun(t, "stats", "--data", data)
		if !strings.Contains(out, "0 streams") {
			t.Fatalf("failed import left data: %s", out)
		}
	}
}

func TestFSCommands(t *testing.T) {
	data := t.TempDir()
	in := func(stdin string, args ...string) string {
		out, errs, code := run(t, stdin, args...)
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, errs)
		}
		return out
	}
	in("v1", "fs", "write", "--data", data, "--session", "s", "notes.md")
	in("v2", "fs", "write", "--data", data, "--session", "s", "notes.md")
	if got := in("", "fs", "read", "--data", data, "--session", "s", "--seq", "1", "notes.md"); got != "v1" {
		t.Fatalf("read at seq 1: %q", got)
	}
	in("", "fs", "restore", "--data", data, "--session", "s", "--seq", "1", "old")
	if got := in("", "fs", "read", "--data", data, "--session", "s", "--branch", "old", "notes.md"); got != "v1" {
		t.Fatalf("restored branch: %q", got)
	}
	diff := in("", "fs", "diff", "--data", data, "--session", "s", "--to-branch", "old")
	if !strings.Contains(diff, `"kind":"modified"`) {
		t.Fatalf("diff %s", diff)
	}
	in("", "compact-snapshot", "--data", data, "--session", "s")
	if ls := in("", "fs", "ls", "--data", data, "--session", "s"); !strings.Contains(ls, "notes.md") {
		t.Fatalf("ls %s", ls)
	}
	bad := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"read dot-dot", []string{"read", "../etc/passwd"}, 1, "invalid path"},
		{"write dot-dot", []string{"write", "../x"}, 1, "invalid path"},
		{"mode past 0777", []string{"write", "--mode", "0o1777", "m"}, 2, "--mode"},
		{"mode not a number", []string{"write", "--mode", "rw", "m"}, 2, "invalid argument"},
		{"ls missing session", []string{"ls", "--session", "nope"}, 1, "not found"},
		{"diff missing branch", []string{"diff", "--to-branch", "nope"}, 1, "not found"},
		{"restore past head", []string{"restore", "--seq", "99", "nb"}, 1, "past head"},
		{"write reserved session", []string{"write", "--session", "lago.system", "x"}, 2, "reserved"},
		{"snapshot past head", nil, 1, "past head"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"fs"}, tt.args...)
			args = append(args, "--data", data)
			if !slices.Contains(tt.args, "--session") {
				args = append(args, "--session", "s")
			}
			if tt.args == nil {
				args = []string{"compact-snapshot", "--data", data, "--session", "s", "--seq", "99"}
			}
			_, errs, code := run(t, "", args...)
			if code != tt.code || !strings.Contains(errs, tt.msg) {
				t.Fatalf("%v: exit %d (want %d): %s", args, code, tt.code, errs)
			}
		})
	}
	if ls := in("", "fs", "ls", "--data", data, "--session", "s"); strings.Contains(ls, `"m"`) || strings.Contains(ls, `"x"`) {
		t.Fatalf("a refused write stored a file: %s", ls)
	}
}

func TestBenchSmall(t *testing.T) {
	out := mustRun(t, "bench", "--dir", t.TempDir(), "--ops", "10", "--writers", "1,4", "--per-writer", "10", "--replay", "2000", "--subscribers", "3", "--fanout-events", "20")
	for _, want := range []string{"raw file append+fdatasync", "raw bbolt, 1 record per tx", "lago 4 concurrent writers", "replay raw bytes", "lago single writer / raw bbolt"} {
		if !strings.Contains(out, want) {
			t.Fatalf("bench output lacks %q:\n%s", want, out)
		}
	}
}

func TestGrant(t *testing.T) {
	data := t.TempDir()
	mustRun(t, "import", "--data", data, filepath.Join(fixtures, "simple-chat.json"))
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"owner", []string{"--session", "GOLDEN-SIMPLE-CHAT", "--principal", "did:key:alice", "--role", "owner"}, 0, "granted owner"},
		{"bad role", []string{"--session", "GOLDEN-SIMPLE-CHAT", "--principal", "did:key:alice", "--role", "admin"}, 2, "want owner, writer or reader"},
		{"no such session", []string{"--session", "nope", "--principal", "did:key:alice", "--role", "reader"}, 1, "not found"},
		{"missing principal", []string{"--session", "GOLDEN-SIMPLE-CHAT", "--role", "reader"}, 2, "principal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := run(t, "", append([]string{"grant", "--data", data}, tt.args...)...)
			if code != tt.code || !strings.Contains(out+errs, tt.msg) {
				t.Fatalf("exit %d (want %d), output %q %q (want %q)", code, tt.code, out, errs, tt.msg)
			}
		})
	}
	exp := mustRun(t, "export", "--data", data, "--session", "GOLDEN-SIMPLE-CHAT")
	if strings.Count(exp, "lago.acl_granted") != 1 || !strings.Contains(exp, "did:key:alice") {
		t.Fatalf("export does not hold the one grant:\n%s", exp)
	}
}

// TestVerifyDamagedFile: verify never writes to the journal it checks, and
// a cut-off file is a clear error (exit 1), not a bbolt panic.
func TestVerifyDamagedFile(t *testing.T) {
	data := t.TempDir()
	mustRun(t, "import", "--data", data, filepath.Join(fixtures, "all-kinds.json"))
	path := filepath.Join(data, "journal.db")
	before, _ := os.ReadFile(path)
	mustRun(t, "verify", "--data", data)
	mustRun(t, "export", "--data", data, "--session", "GOLDEN-ALL-KINDS")
	mustRun(t, "stats", "--data", data)
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("verify, export or stats changed the journal file")
	}
	if err := os.WriteFile(path, before[:len(before)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code := run(t, "", "verify", "--data", data)
	if code != 1 || !strings.Contains(errs, "truncated") || strings.Contains(errs, "goroutine") {
		t.Fatalf("verify of a cut-off file: exit %d: %s", code, errs)
	}
	if _, errs, code := run(t, "", "export", "--data", data, "--session", ""); code != 2 || !strings.Contains(errs, "--session") {
		t.Fatalf("export --session '': exit %d: %s", code, errs)
	}
}
