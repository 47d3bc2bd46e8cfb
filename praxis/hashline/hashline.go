// Package hashline shows files as tagged lines and applies edits that name
// lines by tag, so that an agent can only edit the version it has read.
//
// A line is shown as "{n:>4} {tag} | {text}", where tag is the first 8 hex
// characters of Blake3("{n}:{text}") with n counted from 1 and the line
// ending stripped: the tags of the reference system. Unlike the reference,
// documents keep each line's ending and the presence of a final newline.
package hashline

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/zeebo/blake3"
)

// Tag is the hashline tag of line n (from 1) with the given text.
func Tag(n int, text string) string {
	var stack [256]byte
	return tagInto(stack[:0], n, text)
}

// tagInto hashes "{n}:{text}" built in buf (reused by Tags to avoid an
// allocation per line).
func tagInto(buf []byte, n int, text string) string {
	buf = strconv.AppendInt(buf, int64(n), 10)
	buf = append(buf, ':')
	buf = append(buf, text...)
	sum := blake3.Sum256(buf)
	return hex.EncodeToString(sum[:4])
}

// Line is one line of a document and the ending that followed it ("\n",
// "\r\n", or "" for a last line without newline).
type Line struct {
	Text string
	EOL  string
}

// Doc is a text file split into lines.
type Doc struct {
	Lines []Line
}

// Parse splits b into lines, keeping every line's ending.
func Parse(b []byte) *Doc {
	d := &Doc{}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			d.Lines = append(d.Lines, Line{Text: string(b)})
			break
		}
		text, eol := b[:i], "\n"
		if i > 0 && b[i-1] == '\r' {
			text, eol = b[:i-1], "\r\n"
		}
		d.Lines = append(d.Lines, Line{Text: string(text), EOL: eol})
		b = b[i+1:]
	}
	return d
}

// Bytes joins the lines back, with their own endings.
func (d *Doc) Bytes() []byte {
	n := 0
	for _, l := range d.Lines {
		n += len(l.Text) + len(l.EOL)
	}
	out := make([]byte, 0, n)
	for _, l := range d.Lines {
		out = append(out, l.Text...)
		out = append(out, l.EOL...)
	}
	return out
}

// EOL is the document's dominant line ending, used for new lines.
func (d *Doc) EOL() string {
	crlf, lf := 0, 0
	for _, l := range d.Lines {
		switch l.EOL {
		case "\r\n":
			crlf++
		case "\n":
			lf++
		}
	}
	if crlf > lf {
		return "\r\n"
	}
	return "\n"
}

// Tags returns the tag of every line.
func (d *Doc) Tags() []string {
	tags := make([]string, len(d.Lines))
	buf := make([]byte, 0, 256)
	for i, l := range d.Lines {
		tags[i] = tagInto(buf[:0], i+1, l.Text)
	}
	return tags
}

// FormatLine renders line n (from 1) with its tag.
func FormatLine(n int, text string) string {
	return fmt.Sprintf("%4d %s | %s", n, Tag(n, text), text)
}

// Render shows lines offset+1 .. offset+limit (limit 0 = all), one per row,
// each ending in "\n".
func (d *Doc) Render(offset, limit int) string {
	var b strings.Builder
	for i := max(offset, 0); i < len(d.Lines); i++ {
		if limit > 0 && i >= offset+limit {
			break
		}
		b.WriteString(FormatLine(i+1, d.Lines[i].Text))
		b.WriteByte('\n')
	}
	return b.String()
}
