package skills

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		msg       string
		check     func(t *testing.T, s Skill, body string)
	}{
		{name: "full", src: "---\nname: pdf-tools\ndescription: Fill PDF forms\nallowed-tools: [read_file, bash]\nversion: \"1.2\"\nauthor: ana\n---\n# PDF\nbody\n",
			check: func(t *testing.T, s Skill, body string) {
				if s.Name != "pdf-tools" || s.Version != "1.2" || len(s.AllowedTools) != 2 || s.Metadata["author"] != "ana" || body != "# PDF\nbody\n" {
					t.Fatalf("%+v %q", s, body)
				}
			}},
		{name: "crlf and string tools", src: "---\r\nname: x\r\ndescription: d\r\nallowed-tools: read_file, grep\r\n---\r\nbody",
			check: func(t *testing.T, s Skill, body string) {
				if len(s.AllowedTools) != 2 || s.AllowedTools[1] != "grep" || body != "body" {
					t.Fatalf("%+v %q", s, body)
				}
			}},
		{name: "no front matter", src: "# just markdown\n", line: 1, msg: "missing front matter"},
		{name: "unclosed", src: "---\nname: x\n", line: 1, msg: "not closed"},
		{name: "yaml syntax", src: "---\nname: x\ndescription: \"unclosed\n---\n", line: 3, msg: "front matter"},
		{name: "bad indentation", src: "---\nname: x\n  description: y\n---\n", line: 3, msg: "front matter"},
		{name: "bad name", src: "---\nname: Bad_Name\ndescription: d\n---\n", line: 2, msg: "name \"Bad_Name\""},
		{name: "name not string", src: "---\nname: [a]\ndescription: d\n---\n", line: 2, msg: "must be a string"},
		{name: "empty description", src: "---\nname: a\ndescription: \"  \"\n---\n", line: 3, msg: "description"},
		{name: "missing description", src: "---\nname: a\n---\n", line: 2, msg: "missing required field description"},
		{name: "tools not list", src: "---\nname: a\ndescription: d\nallowed-tools: {a: 1}\n---\n", line: 4, msg: "list of tool names"},
		{name: "duplicate key", src: "---\nname: a\nname: b\ndescription: d\n---\n", line: 3, msg: "duplicate"},
		{name: "not a mapping", src: "---\n- a\n---\n", line: 2, msg: "mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, body, err := Parse("x/SKILL.md", []byte(tt.src))
			if tt.check != nil {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, s, body)
				return
			}
			var le *LoadError
			if !errors.As(err, &le) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v", err)
			}
			if le.Line != tt.line || !strings.Contains(le.Msg, tt.msg) || !strings.HasPrefix(err.Error(), fmt.Sprintf("x/SKILL.md:%d: ", tt.line)) {
				t.Fatalf("got %q (line %d), want line %d containing %q", err, le.Line, tt.line, tt.msg)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	ws := filepath.Join(t.TempDir(), ".skills")
	user := filepath.Join(t.TempDir(), "skills")
	write(t, filepath.Join(ws, "deploy", "SKILL.md"), "---\nname: deploy\ndescription: Ship the service to production\n---\nSteps.\n")
	write(t, filepath.Join(ws, "broken", "SKILL.md"), "---\nname: broken\ndescription: \"x\n---\n")
	write(t, filepath.Join(ws, "nested", "group", "review", "SKILL.md"), "---\nname: code-review\ndescription: Review a pull request\n---\nLook closely.\n")
	write(t, filepath.Join(user, "deploy", "SKILL.md"), "---\nname: deploy\ndescription: user copy\n---\n")
	write(t, filepath.Join(user, "notes", "SKILL.md"), "---\nname: notes\ndescription: Keep research notes\nallowed-tools: [read_memory, write_memory]\n---\nWrite things down.\n")
	reg, errs := Load(Source{Dir: ws, Label: "workspace"}, Source{Dir: user, Label: "user"}, Source{Dir: filepath.Join(t.TempDir(), "missing"), Label: "none"})
	if len(errs) != 2 {
		t.Fatalf("errors %v", errs)
	}
	joined := fmt.Sprint(errs)
	if !strings.Contains(joined, filepath.Join(ws, "broken", "SKILL.md")+":3:") || !strings.Contains(joined, "shadowed") {
		t.Fatalf("errors %v", errs)
	}
	var names []string
	for _, s := range reg.List() {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "code-review,deploy,notes" {
		t.Fatalf("names %v", names)
	}
	if s, _ := reg.Get("deploy"); s.Source != "workspace" || s.Description != "Ship the service to production" {
		t.Fatalf("precedence: %+v", s)
	}
	if got := reg.Search("notes"); len(got) != 1 || got[0].Name != "notes" {
		t.Fatalf("search notes: %v", got)
	}
	if got := reg.Search("review pull"); len(got) != 1 || got[0].Name != "code-review" {
		t.Fatalf("search: %v", got)
	}
	if got := reg.Search(""); len(got) != 3 {
		t.Fatalf("empty search: %v", got)
	}
	body, err := reg.Body("notes")
	if err != nil || body != "Write things down.\n" {
		t.Fatalf("body %q %v", body, err)
	}
	if _, err := reg.Body("nope"); err == nil {
		t.Fatal("missing skill body")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("---\nname: a\ndescription: b\nallowed-tools: [x]\n---\nbody\n"))
	f.Add([]byte("---\nname: a\ndescription: [\n---\n"))
	f.Add([]byte("---\r\nname: a-b\r\ndescription: d\r\nversion: 1\r\nx: {y: [1, 2]}\r\n---\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, _, err := Parse("f", data)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || le.Line < 0 {
				t.Fatalf("error without location: %v", err)
			}
			return
		}
		if !nameRe.MatchString(s.Name) || s.Description == "" {
			t.Fatalf("invalid skill accepted: %+v", s)
		}
	})
}

func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "skills")
	defer os.RemoveAll(dir)
	_ = os.MkdirAll(filepath.Join(dir, "greet"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "greet", "SKILL.md"), []byte("---\nname: greet\ndescription: Say hello\n---\nSay hello politely.\n"), 0o644)
	reg, errs := Load(Source{Dir: dir, Label: "workspace"})
	fmt.Println(len(errs), reg.List()[0].Name, reg.List()[0].Description)
	body, _ := reg.Body("greet")
	fmt.Print(body)
	// Output:
	// 0 greet Say hello
	// Say hello politely.
}

func TestDefaultSources(t *testing.T) {
	t.Setenv("HOME", "/home/agent")
	src := DefaultSources("/ws")
	if len(src) != 2 || src[0].Dir != "/ws/.skills" || src[1].Dir != "/home/agent/.life/skills" || src[0].Label != "workspace" {
		t.Fatalf("%+v", src)
	}
}

// TestBodyFileSwapped: the file behind a loaded skill is replaced before its
// body is read. A FIFO must not hang the read, a symlink must not be
// followed (it could point anywhere), and a huge file is refused.
func TestBodyFileSwapped(t *testing.T) {
	for _, tc := range []struct {
		name string
		swap func(t *testing.T, file string)
		want string
	}{
		{"fifo", func(t *testing.T, file string) {
			if err := syscall.Mkfifo(file, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"symlink", func(t *testing.T, file string) {
			other := filepath.Join(t.TempDir(), "SKILL.md")
			write(t, other, "---\nname: other\ndescription: elsewhere\n---\nOUTSIDE\n")
			if err := os.Symlink(other, file); err != nil {
				t.Fatal(err)
			}
		}, "symbolic links"},
		{"huge", func(t *testing.T, file string) {
			write(t, file, "---\nname: a\ndescription: b\n---\n"+strings.Repeat("x", maxFile))
		}, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "a", FileName)
			write(t, file, "---\nname: a\ndescription: b\n---\nbody\n")
			reg, errs := Load(Source{Dir: dir})
			if len(errs) != 0 {
				t.Fatal(errs)
			}
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			tc.swap(t, file)
			done := make(chan error, 1)
			go func() {
				_, err := reg.Body("a")
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("body after swap: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("body read hangs")
			}
		})
	}
}

// TestMetadataMustBeJSON: front matter that JSON cannot carry is a clear
// error naming the line, not a skill that fails every later encoding.
func TestMetadataMustBeJSON(t *testing.T) {
	for _, front := range []string{"extra:\n  1: one\n", "score: .nan\n"} {
		_, _, err := Parse("S.md", []byte("---\nname: a\ndescription: b\n"+front+"---\n"))
		var le *LoadError
		if !errors.As(err, &le) || le.Line != 4 || !strings.Contains(le.Msg, "JSON") {
			t.Errorf("%q: %v", front, err)
		}
	}
}
