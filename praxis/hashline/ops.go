package hashline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Op names.
const (
	OpReplaceLine  = "replace_line"
	OpInsertAfter  = "insert_after"
	OpDeleteLine   = "delete_line"
	OpReplaceRange = "replace_range"
	OpDeleteRange  = "delete_range"
)

// BOF is the tag insert_after takes to insert before the first line.
const BOF = "BOF"

// Op is one edit. Tag (or TagFrom and TagTo for ranges) names lines by the
// tags of the version that was read; a tag may be written "n:tag" to say
// which line it was, which makes a stale-tag refusal show the lines nearby.
// Text is the new content: one line per "\n", a single trailing "\n"
// ignored, so "" is one empty line.
type Op struct {
	Op      string  `json:"op"`
	Tag     string  `json:"tag,omitempty"`
	TagFrom string  `json:"tag_from,omitempty"`
	TagTo   string  `json:"tag_to,omitempty"`
	Text    *string `json:"text,omitempty"`
}

// ErrBadOp is matched by every op decoding or validation error.
var ErrBadOp = errors.New("hashline: bad edit op")

// StaleError refuses an edit whose tag does not match the current file. It
// carries the current tagged lines near where the tag pointed, so the agent
// can re-read instead of editing a version it did not see.
type StaleError struct {
	Tag    string
	Nearby []string // rendered "{n:>4} {tag} | {text}" lines
}

func (e *StaleError) Error() string {
	msg := fmt.Sprintf("hashline: tag %q does not match the current file; re-read it", e.Tag)
	if len(e.Nearby) > 0 {
		msg += "; current lines nearby:\n" + strings.Join(e.Nearby, "\n")
	}
	return msg
}

var tagRe = regexp.MustCompile(`^(?:(\d{1,9})[:\s]\s*)?([0-9a-f]{8})$`)

// parseTag accepts "tag", "n:tag" and "n tag" and returns the line hint (0
// when absent) and the tag.
func parseTag(s string) (int, string, error) {
	m := tagRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, "", fmt.Errorf("%w: tag %q is not 8 lowercase hex characters (optionally prefixed by \"n:\")", ErrBadOp, s)
	}
	n := 0
	if m[1] != "" {
		n, _ = strconv.Atoi(m[1])
	}
	return n, m[2], nil
}

// DecodeOps reads a JSON array of ops, strictly: unknown fields, unknown op
// names and missing fields are errors naming the op's index.
func DecodeOps(raw []byte) ([]Op, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var ops []Op
	if err := dec.Decode(&ops); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOp, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the ops array", ErrBadOp)
	}
	if err := Validate(ops); err != nil {
		return nil, err
	}
	return ops, nil
}

// Validate checks every op's shape.
func Validate(ops []Op) error {
	if len(ops) == 0 {
		return fmt.Errorf("%w: no ops", ErrBadOp)
	}
	for i, op := range ops {
		bad := func(msg string) error { return fmt.Errorf("%w: op %d (%s): %s", ErrBadOp, i, op.Op, msg) }
		single, ranged, text := false, false, false
		switch op.Op {
		case OpReplaceLine:
			single, text = true, true
		case OpInsertAfter:
			single, text = true, true
		case OpDeleteLine:
			single = true
		case OpReplaceRange:
			ranged, text = true, true
		case OpDeleteRange:
			ranged = true
		default:
			return bad("unknown op; want replace_line, insert_after, delete_line, replace_range or delete_range")
		}
		if single && (op.Tag == "" || op.TagFrom != "" || op.TagTo != "") {
			return bad("needs tag (and no tag_from/tag_to)")
		}
		if ranged && (op.Tag != "" || op.TagFrom == "" || op.TagTo == "") {
			return bad("needs tag_from and tag_to (and no tag)")
		}
		if text != (op.Text != nil) {
			if text {
				return bad("needs text")
			}
			return bad("takes no text")
		}
		for _, t := range []string{op.Tag, op.TagFrom, op.TagTo} {
			if t == "" || (t == BOF && op.Op == OpInsertAfter) {
				continue
			}
			if _, _, err := parseTag(t); err != nil {
				return bad(err.Error())
			}
		}
	}
	return nil
}

func splitText(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// locate finds the line index a tag names in d.
func (d *Doc) locate(index map[string][]int, raw string) (int, error) {
	hint, tag, err := parseTag(raw)
	if err != nil {
		return 0, err
	}
	idx := index[tag]
	if hint > 0 {
		if slices.Contains(idx, hint-1) {
			return hint - 1, nil
		}
	} else if len(idx) == 1 {
		return idx[0], nil
	} else if len(idx) > 1 {
		return 0, fmt.Errorf("%w: tag %q matches %d lines; write it as \"n:%s\"", ErrBadOp, tag, len(idx), tag)
	}
	stale := &StaleError{Tag: raw}
	if hint == 0 {
		hint = d.moved(tag)
	}
	if hint > 0 {
		from, to := max(hint-3, 1), min(hint+3, len(d.Lines))
		for n := from; n <= to; n++ {
			stale.Nearby = append(stale.Nearby, FormatLine(n, d.Lines[n-1].Text))
		}
	}
	return 0, stale
}

// moveWindow bounds how far moved is willing to look.
const moveWindow = 20

// moved finds where the line a stale tag named has gone when only its
// number changed (lines inserted or deleted above it): some current line j
// whose text hashes to tag at a line number within moveWindow of j. It
// returns j's number, or 0.
func (d *Doc) moved(tag string) int {
	if len(d.Lines) > 50000 {
		return 0 // error path only; keep it cheap on huge files
	}
	buf := make([]byte, 0, 256)
	for j, l := range d.Lines {
		for n := max(j+1-moveWindow, 1); n <= j+1+moveWindow; n++ {
			if n != j+1 && tagInto(buf[:0], n, l.Text) == tag {
				return j + 1
			}
		}
	}
	return 0
}

// Apply applies ops to d, all or none. Every tag refers to d as it is (the
// version that was read), so ops do not shift each other's lines. Two ops
// that change the same line are refused. Untouched lines keep their endings;
// new lines get the document's dominant ending; the file keeps (or keeps
// lacking) its final newline.
func Apply(d *Doc, ops []Op) (*Doc, error) {
	if err := Validate(ops); err != nil {
		return nil, err
	}
	index := make(map[string][]int, len(d.Lines))
	for i, t := range d.Tags() {
		index[t] = append(index[t], i)
	}
	n := len(d.Lines)
	replaced := make([]int, n) // 1 + op index that replaces or deletes the line
	repl := make(map[int][]string)
	inserts := make(map[int][]string) // after line index; -1 = before the first
	for k, op := range ops {
		switch op.Op {
		case OpInsertAfter:
			at := -1
			if op.Tag != BOF {
				i, err := d.locate(index, op.Tag)
				if err != nil {
					return nil, err
				}
				at = i
			}
			inserts[at] = append(inserts[at], splitText(*op.Text)...)
			continue
		}
		var from, to int
		var err error
		if op.Op == OpReplaceLine || op.Op == OpDeleteLine {
			from, err = d.locate(index, op.Tag)
			to = from
		} else {
			if from, err = d.locate(index, op.TagFrom); err == nil {
				to, err = d.locate(index, op.TagTo)
			}
		}
		if err != nil {
			return nil, err
		}
		if to < from {
			return nil, fmt.Errorf("%w: op %d: tag_to is before tag_from", ErrBadOp, k)
		}
		for i := from; i <= to; i++ {
			if replaced[i] != 0 {
				return nil, fmt.Errorf("%w: ops %d and %d both change line %d", ErrBadOp, replaced[i]-1, k, i+1)
			}
			replaced[i] = k + 1
		}
		if op.Text != nil {
			repl[from] = splitText(*op.Text)
		}
	}
	eol := d.EOL()
	out := &Doc{Lines: make([]Line, 0, n)}
	add := func(texts []string) {
		for _, t := range texts {
			out.Lines = append(out.Lines, Line{Text: t, EOL: eol})
		}
	}
	add(inserts[-1])
	for i, l := range d.Lines {
		if replaced[i] == 0 {
			out.Lines = append(out.Lines, l)
		} else {
			add(repl[i])
		}
		add(inserts[i])
	}
	// Every line but the last ends in a newline; the last keeps the file's.
	for i := range out.Lines {
		if out.Lines[i].EOL == "" {
			out.Lines[i].EOL = eol
		}
	}
	if len(out.Lines) > 0 {
		final := eol
		if n > 0 {
			final = d.Lines[n-1].EOL
		}
		out.Lines[len(out.Lines)-1].EOL = final
		// An empty last line without newline is no line at all in the bytes.
		if l := out.Lines[len(out.Lines)-1]; l == (Line{}) {
			out.Lines = out.Lines[:len(out.Lines)-1]
		}
	}
	// A text ending in "\r" followed by "\n" reads back as a CRLF line
	// without that "\r" (a kept last line "x\r" that gains a newline, or new
	// text "x\r\r"): say so here, so the tags shown after an edit are the
	// tags a re-read gives.
	for i, l := range out.Lines {
		if l.EOL == "\n" && strings.HasSuffix(l.Text, "\r") {
			out.Lines[i] = Line{Text: l.Text[:len(l.Text)-1], EOL: "\r\n"}
		}
	}
	return out, nil
}
