package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/praxis/hashline"
	"github.com/lifeos/life/praxis/sandbox"
)

// readCapped reads a whole file through the policy, refusing big files.
func readCapped(p *sandbox.FsPolicy, name string, limit int64) ([]byte, error) {
	f, err := p.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%q is a directory", name)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%q is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%q is larger than %d bytes", name, limit)
	}
	return b, nil
}

// journalPath is the workspace-relative form of name for events, so that
// "./a.txt", "a.txt" and "/abs/ws/a.txt" journal alike.
func journalPath(p *sandbox.FsPolicy, name string) string {
	if rel, err := p.Resolve(name); err == nil {
		return rel
	}
	return name
}

// --- read_file

type readFile struct{ env *Env }

// ReadFileArgs are read_file's arguments.
type ReadFileArgs struct {
	Path   string `json:"path"`
	Offset int    `json:"offset,omitempty"` // lines to skip
	Limit  int    `json:"limit,omitempty"`  // lines to show (default 2000)
}

// ReadFileOutput is read_file's result. Content holds the lines as
// "{n:>4} {tag} | {text}".
type ReadFileOutput struct {
	Path       string `json:"path"`
	Content    string `json:"content"`
	StartLine  int    `json:"start_line"`
	EndLine    int    `json:"end_line"`
	TotalLines int    `json:"total_lines"`
	Truncated  bool   `json:"truncated,omitempty"`
}

func (t *readFile) Spec() aios.ToolSpec {
	return spec(ReadFile, "Read a workspace file. Each line is shown as '{n:>4} {tag} | {text}'; pass the tags to edit_file.",
		`{"type":"object","properties":{"path":{"type":"string","description":"file path relative to the workspace"},"offset":{"type":"integer","minimum":0,"description":"lines to skip"},"limit":{"type":"integer","minimum":1,"description":"lines to show (default 2000)"}},"required":["path"],"additionalProperties":false}`,
		aios.ToolAnnotations{ReadOnly: true, Idempotent: true, Category: "fs"})
}

func (t *readFile) Call(ctx context.Context, raw json.RawMessage) (aios.ToolResult, error) {
	var a ReadFileArgs
	if err := decodeArgs(raw, &a); err != nil {
		return fail(ctx, "", err)
	}
	if a.Path == "" || a.Offset < 0 || a.Limit < 0 {
		return fail(ctx, "", errors.New("invalid arguments: path is required; offset and limit must not be negative"))
	}
	if a.Limit == 0 {
		a.Limit = 2000
	}
	b, err := readCapped(t.env.FS, a.Path, t.env.maxRead())
	if err != nil {
		return fail(ctx, t.env.FS.SandboxID(), err)
	}
	if isBinary(b) {
		return fail(ctx, "", fmt.Errorf("%q is a binary file", a.Path))
	}
	d := hashline.Parse(b)
	content, end := renderCapped(d, a.Offset, a.Limit)
	return ok(ReadFileOutput{
		Path: a.Path, Content: content,
		StartLine: min(a.Offset, len(d.Lines)-1) + 1, EndLine: end, TotalLines: len(d.Lines),
		Truncated: end < len(d.Lines),
	})
}

// Output caps for read_file: a line's shown text, and the whole content.
const (
	maxShownLine  = 4000
	maxReadOutput = 256 << 10
)

// renderCapped renders lines from offset, at most limit of them, stopping
// before the output passes maxReadOutput; a line longer than maxShownLine is
// cut with a marker (its tag is still the tag of the whole line). It
// returns the content and the number of the last line shown.
func renderCapped(d *hashline.Doc, offset, limit int) (string, int) {
	var b strings.Builder
	offset = min(offset, len(d.Lines))
	limit = min(limit, len(d.Lines)-offset) // offset+limit must not overflow
	end := offset
	for i := offset; i < offset+limit; i++ {
		row := hashline.FormatLine(i+1, d.Lines[i].Text)
		if len(d.Lines[i].Text) > maxShownLine {
			row = row[:len(row)-len(d.Lines[i].Text)+maxShownLine] + fmt.Sprintf(" [... %d more bytes in this line]", len(d.Lines[i].Text)-maxShownLine)
		}
		if b.Len()+len(row)+1 > maxReadOutput && i > offset {
			break
		}
		b.WriteString(row)
		b.WriteByte('\n')
		end = i + 1
	}
	return b.String(), end
}

// --- write_file

type writeFile struct{ env *Env }

// WriteFileArgs are write_file's arguments.
type WriteFileArgs struct {
	Path    string  `json:"path"`
	Content *string `json:"content"`
}

// WriteOutput is the result of write_file and edit_file.
type WriteOutput struct {
	Path        string `json:"path"`
	Bytes       int    `json:"bytes"`
	ContentHash string `json:"content_hash"` // Blake3 hex of the new bytes
	Applied     int    `json:"applied,omitempty"`
	// Content shows the changed lines with their new tags (edit_file).
	Content string `json:"content,omitempty"`
}

func (t *writeFile) Spec() aios.ToolSpec {
	return spec(WriteFile, "Create or replace a workspace file atomically.",
		`{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"],"additionalProperties":false}`,
		aios.ToolAnnotations{Destructive: true, Idempotent: true, Category: "fs"})
}

func (t *writeFile) Call(ctx context.Context, raw json.RawMessage) (aios.ToolResult, error) {
	var a WriteFileArgs
	if err := decodeArgs(raw, &a); err != nil {
		return fail(ctx, "", err)
	}
	if a.Path == "" || a.Content == nil {
		return fail(ctx, "", errors.New("invalid arguments: path and content are required"))
	}
	data := []byte(*a.Content)
	t.env.writeMu.Lock()
	defer t.env.writeMu.Unlock()
	if err := t.env.FS.WriteFile(a.Path, data, 0o644); err != nil {
		return fail(ctx, t.env.FS.SandboxID(), err)
	}
	h := contentHash(data)
	return ok(WriteOutput{Path: a.Path, Bytes: len(data), ContentHash: h}, &aios.FileMutated{Path: journalPath(t.env.FS, a.Path), ContentHash: h})
}

// --- edit_file

type editFile struct{ env *Env }

// EditFileArgs are edit_file's arguments.
type EditFileArgs struct {
	Path string          `json:"path"`
	Ops  json.RawMessage `json:"ops"`
}

func (t *editFile) Spec() aios.ToolSpec {
	return spec(EditFile, "Edit a workspace file by line tags from read_file. All ops refer to the version read and apply together or not at all; a stale tag is refused with the current lines nearby.",
		`{"type":"object","properties":{"path":{"type":"string"},"ops":{"type":"array","minItems":1,"items":{"type":"object","properties":{"op":{"type":"string","enum":["replace_line","insert_after","delete_line","replace_range","delete_range"]},"tag":{"type":"string","description":"line tag, or 'n:tag'; insert_after takes BOF for the top"},"tag_from":{"type":"string"},"tag_to":{"type":"string"},"text":{"type":"string","description":"new lines, separated by newlines"}},"required":["op"],"additionalProperties":false}}},"required":["path","ops"],"additionalProperties":false}`,
		aios.ToolAnnotations{Destructive: true, Category: "fs"})
}

func (t *editFile) Call(ctx context.Context, raw json.RawMessage) (aios.ToolResult, error) {
	var a EditFileArgs
	if err := decodeArgs(raw, &a); err != nil {
		return fail(ctx, "", err)
	}
	if a.Path == "" || len(a.Ops) == 0 {
		return fail(ctx, "", errors.New("invalid arguments: path and ops are required"))
	}
	ops, err := hashline.DecodeOps(a.Ops)
	if err != nil {
		return fail(ctx, "", err)
	}
	if t.env.FS.ReadOnly() {
		return fail(ctx, t.env.FS.SandboxID(), &sandbox.ViolationError{Rule: sandbox.RuleReadOnly, Path: a.Path})
	}
	t.env.writeMu.Lock()
	defer t.env.writeMu.Unlock()
	b, err := readCapped(t.env.FS, a.Path, t.env.maxRead())
	if err != nil {
		return fail(ctx, t.env.FS.SandboxID(), err)
	}
	if isBinary(b) {
		return fail(ctx, "", fmt.Errorf("%q is a binary file", a.Path))
	}
	old := hashline.Parse(b)
	doc, err := hashline.Apply(old, ops)
	if err != nil {
		return fail(ctx, "", err)
	}
	data := doc.Bytes()
	if err := t.env.FS.WriteFile(a.Path, data, 0o644); err != nil {
		return fail(ctx, t.env.FS.SandboxID(), err)
	}
	h := contentHash(data)
	return ok(WriteOutput{Path: a.Path, Bytes: len(data), ContentHash: h, Applied: len(ops), Content: changed(old, doc)},
		&aios.FileMutated{Path: journalPath(t.env.FS, a.Path), ContentHash: h})
}

// changed renders the new document's lines from the first to the last that
// differ from the old one, with 2 lines of context.
func changed(old, doc *hashline.Doc) string {
	a, b := old.Lines, doc.Lines
	first := 0
	for first < len(a) && first < len(b) && a[first] == b[first] {
		first++
	}
	ea, eb := len(a), len(b)
	for ea > first && eb > first && a[ea-1] == b[eb-1] {
		ea--
		eb--
	}
	from := max(first-2, 0)
	to := min(eb+2, len(b))
	if to-from > 200 {
		to = from + 200
	}
	return doc.Render(from, to-from)
}

// --- list_dir

type listDir struct{ env *Env }

// ListDirArgs are list_dir's arguments.
type ListDirArgs struct {
	Path string `json:"path,omitempty"`
}

// DirEntry is one list_dir entry.
type DirEntry struct {
	Name string `json:"name"`
	Type string `json:"type"` // file, dir, symlink, other
	Size int64  `json:"size,omitempty"`
}

// ListDirOutput is list_dir's result.
type ListDirOutput struct {
	Path      string     `json:"path"`
	Entries   []DirEntry `json:"entries"`
	Truncated bool       `json:"truncated,omitempty"`
}

func (t *listDir) Spec() aios.ToolSpec {
	return spec(ListDir, "List a workspace directory.",
		`{"type":"object","properties":{"path":{"type":"string","description":"directory relative to the workspace (default the root)"}},"additionalProperties":false}`,
		aios.ToolAnnotations{ReadOnly: true, Idempotent: true, Category: "fs"})
}

func entryType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "file"
	}
	return "other"
}

func (t *listDir) Call(ctx context.Context, raw json.RawMessage) (aios.ToolResult, error) {
	var a ListDirArgs
	if err := decodeArgs(raw, &a); err != nil {
		return fail(ctx, "", err)
	}
	if a.Path == "" {
		a.Path = "."
	}
	rel, err := t.env.FS.Resolve(a.Path)
	if err != nil {
		return fail(ctx, t.env.FS.SandboxID(), err)
	}
	entries, err := t.env.FS.ReadDir(a.Path)
	if err != nil {
		return fail(ctx, t.env.FS.SandboxID(), err)
	}
	out := ListDirOutput{Path: a.Path, Entries: []DirEntry{}}
	limit := t.env.maxResults(1000)
	for _, e := range entries {
		if _, denied := t.env.FS.Denied(path.Join(rel, e.Name())); denied || hidden(t.env.FS, rel, path.Join(rel, e.Name())) {
			continue
		}
		if len(out.Entries) == limit {
			out.Truncated = true
			break
		}
		de := DirEntry{Name: e.Name(), Type: entryType(e.Type())}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			de.Size = fi.Size()
		}
		out.Entries = append(out.Entries, de)
	}
	return ok(out)
}

// --- glob

type globTool struct{ env *Env }

// GlobArgs are glob's arguments.
type GlobArgs struct {
	Pattern string `json:"pattern"`
	Path    string `json:"path,omitempty"`
}

// GlobOutput is glob's result: workspace-relative slash paths, sorted.
type GlobOutput struct {
	Matches   []string `json:"matches"`
	Truncated bool     `json:"truncated,omitempty"`
}

func (t *globTool) Spec() aios.ToolSpec {
	return spec(Glob, "Find workspace files by glob pattern ('**' matches any depth).",
		`{"type":"object","properties":{"pattern":{"type":"string","description":"e.g. **/*.go"},"path":{"type":"string","description":"directory to search from (default the root)"}},"required":["pattern"],"additionalProperties":false}`,
		aios.ToolAnnotations{ReadOnly: true, Idempotent: true, Category: "fs"})
}

func (t *globTool) Call(ctx context.Context, raw json.RawMessage) (aios.ToolResult, error) {
	var a GlobArgs
	if err := decodeArgs(raw, &a); err != nil {
		return fail(ctx, "", err)
	}
	if a.Pattern == "" || !doublestar.ValidatePattern(a.Pattern) || strings.HasPrefix(a.Pattern, "/") {
		return fail(ctx, "", fmt.Errorf("invalid arguments: bad glob pattern %q (relative, doublestar syntax)", a.Pattern))
	}
	if a.Path == "" {
		a.Path = "."
	}
	base, err := t.env.FS.Resolve(a.Path)
	if err != nil {
		return fail(ctx, t.env.FS.SandboxID(), err)
	}
	sub, err := fs.Sub(t.env.FS.FS(), base)
	if err != nil {
		return fail(ctx, "", err)
	}
	out := GlobOutput{Matches: []string{}}
	limit := t.env.maxResults(1000)
	errStop := errors.New("stop")
	err = doublestar.GlobWalk(sub, a.Pattern, func(p string, d fs.DirEntry) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel := path.Join(base, p)
		if _, denied := t.env.FS.Denied(rel); denied || hidden(t.env.FS, base, rel) {
			return nil
		}
		if len(out.Matches) == limit {
			out.Truncated = true
			return errStop
		}
		out.Matches = append(out.Matches, rel)
		return nil
	}, doublestar.WithNoFollow())
	if err != nil && !errors.Is(err, errStop) {
		return fail(ctx, "", err)
	}
	sort.Strings(out.Matches)
	return ok(out)
}

// hidden reports whether a listing that started at base leaves rel out:
// WriteFile's temporaries always (one a crashed write left is removed as
// the listing meets it), and praxis's state dir (commands' HOME with its
// toolchain caches, the memory notes) unless the listing started inside
// it. A listing of the workspace is about the agent's files.
func hidden(fs *sandbox.FsPolicy, base, rel string) bool {
	if sandbox.IsTempName(path.Base(rel)) {
		fs.RemoveStaleTemp(rel)
		return true
	}
	under := func(p string) bool { return p == sandbox.StateDir || strings.HasPrefix(p, sandbox.StateDir+"/") }
	return under(rel) && !under(base)
}

// --- grep

type grepTool struct{ env *Env }

// GrepArgs are grep's arguments.
type GrepArgs struct {
	Pattern    string `json:"pattern"`
	Path       string `json:"path,omitempty"`
	Glob       string `json:"glob,omitempty"`
	IgnoreCase bool   `json:"ignore_case,omitempty"`
	MaxResults int    `json:"max_results,omitempty"`
}

// GrepMatch is one matching line.
type GrepMatch struct {
	Path string `json:"path"`
	Line int    `json:"line"`
	Text string `json:"text"`
}

// GrepOutput is grep's result.
type GrepOutput struct {
	Matches      []GrepMatch `json:"matches"`
	FilesScanned int         `json:"files_scanned"`
	Truncated    bool        `json:"truncated,omitempty"`
}

func (t *grepTool) Spec() aios.ToolSpec {
	return spec(Grep, "Search workspace files with a regular expression (RE2 syntax); returns file, line number and text.",
		`{"type":"object","properties":{"pattern":{"type":"string"},"path":{"type":"string","description":"file or directory (default the root)"},"glob":{"type":"string","description":"only files whose relative path matches, e.g. **/*.go"},"ignore_case":{"type":"boolean"},"max_results":{"type":"integer","minimum":1}},"required":["pattern"],"additionalProperties":false}`,
		aios.ToolAnnotations{ReadOnly: true, Idempotent: true, Category: "fs"})
}

const maxGrepLine = 500

func (t *grepTool) Call(ctx context.Context, raw json.RawMessage) (aios.ToolResult, error) {
	var a GrepArgs
	if err := decodeArgs(raw, &a); err != nil {
		return fail(ctx, "", err)
	}
	if a.Pattern == "" || a.MaxResults < 0 {
		return fail(ctx, "", errors.New("invalid arguments: pattern is required; max_results must be positive"))
	}
	expr := a.Pattern
	if a.IgnoreCase {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return fail(ctx, "", fmt.Errorf("invalid arguments: pattern: %w", err))
	}
	if a.Glob != "" && !doublestar.ValidatePattern(a.Glob) {
		return fail(ctx, "", fmt.Errorf("invalid arguments: bad glob %q", a.Glob))
	}
	limit := a.MaxResults
	if limit == 0 {
		limit = t.env.maxResults(200)
	}
	if a.Path == "" {
		a.Path = "."
	}
	base, err := t.env.FS.Resolve(a.Path)
	if err != nil {
		return fail(ctx, t.env.FS.SandboxID(), err)
	}
	out := GrepOutput{Matches: []GrepMatch{}}
	errStop := errors.New("stop")
	fsys := t.env.FS.FS()
	err = fs.WalkDir(fsys, base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable entries are skipped, not fatal
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, denied := t.env.FS.Denied(p); denied {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != base && (d.Name() == ".git" || hidden(t.env.FS, base, p)) {
				return fs.SkipDir
			}
			return nil
		}
		if sandbox.IsTempName(d.Name()) {
			t.env.FS.RemoveStaleTemp(p)
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if a.Glob != "" {
			if m, _ := doublestar.Match(a.Glob, p); !m {
				if m, _ := doublestar.Match(a.Glob, path.Base(p)); !m {
					return nil
				}
			}
		}
		if info, err := d.Info(); err != nil || info.Size() > t.env.maxRead() {
			return nil
		}
		// Through the policy: the entry may have become a FIFO since the walk.
		b, err := t.env.FS.ReadFile(p)
		if err != nil || isBinary(b) {
			return nil
		}
		out.FilesScanned++
		for i, l := range hashline.Parse(b).Lines {
			if !re.MatchString(l.Text) {
				continue
			}
			if len(out.Matches) == limit {
				out.Truncated = true
				return errStop
			}
			text := l.Text
			if len(text) > maxGrepLine {
				text = text[:maxGrepLine] + "…"
			}
			out.Matches = append(out.Matches, GrepMatch{Path: p, Line: i + 1, Text: text})
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return fail(ctx, "", err)
	}
	return ok(out)
}
