package hashline

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/zeebo/blake3"
)

func TestTagDefinition(t *testing.T) {
	// The library against the published BLAKE3 vector for the empty input.
	empty := blake3.Sum256(nil)
	if got := hex.EncodeToString(empty[:]); got != "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262" {
		t.Fatalf("blake3(\"\") = %s", got)
	}
	for _, tc := range []struct {
		n    int
		text string
	}{{1, ""}, {1, "hello"}, {42, "\tfunc main() {"}, {10000, "ünïcödé"}} {
		sum := blake3.Sum256([]byte(fmt.Sprintf("%d:%s", tc.n, tc.text)))
		if want := hex.EncodeToString(sum[:])[:8]; Tag(tc.n, tc.text) != want {
			t.Fatalf("Tag(%d, %q) = %s, want %s", tc.n, tc.text, Tag(tc.n, tc.text), want)
		}
	}
	if got, want := FormatLine(7, "x"), fmt.Sprintf("   7 %s | x", Tag(7, "x")); got != want {
		t.Fatalf("FormatLine = %q, want %q", got, want)
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, s := range []string{"", "\n", "a", "a\n", "a\r\nb\n", "a\nb", "a\r\n\r\n", "x\n\n\ny"} {
		d := Parse([]byte(s))
		if got := string(d.Bytes()); got != s {
			t.Fatalf("round trip %q -> %q", s, got)
		}
	}
	if d := Parse([]byte("a\r\nb\r\nc\n")); d.EOL() != "\r\n" {
		t.Fatal("dominant EOL")
	}
}

func ptr(s string) *string { return &s }

func TestApply(t *testing.T) {
	src := "one\ntwo\nthree\nfour\n"
	d := Parse([]byte(src))
	tg := d.Tags()
	tests := []struct {
		name string
		src  string
		ops  []Op
		want string
		err  error
	}{
		{"replace", src, []Op{{Op: OpReplaceLine, Tag: tg[1], Text: ptr("TWO")}}, "one\nTWO\nthree\nfour\n", nil},
		{"replace multi", src, []Op{{Op: OpReplaceLine, Tag: tg[1], Text: ptr("a\nb\n")}}, "one\na\nb\nthree\nfour\n", nil},
		{"insert after", src, []Op{{Op: OpInsertAfter, Tag: tg[3], Text: ptr("five")}}, "one\ntwo\nthree\nfour\nfive\n", nil},
		{"insert bof", src, []Op{{Op: OpInsertAfter, Tag: BOF, Text: ptr("zero")}}, "zero\none\ntwo\nthree\nfour\n", nil},
		{"delete", src, []Op{{Op: OpDeleteLine, Tag: tg[0]}}, "two\nthree\nfour\n", nil},
		{"range", src, []Op{{Op: OpReplaceRange, TagFrom: tg[1], TagTo: tg[2], Text: ptr("mid")}}, "one\nmid\nfour\n", nil},
		{"delete range", src, []Op{{Op: OpDeleteRange, TagFrom: tg[0], TagTo: tg[3]}}, "", nil},
		{"tags of the read version", src, []Op{
			{Op: OpDeleteLine, Tag: tg[0]},
			{Op: OpReplaceLine, Tag: "4:" + tg[3], Text: ptr("FOUR")},
			{Op: OpInsertAfter, Tag: tg[1], Text: ptr("2.5")},
		}, "two\n2.5\nthree\nFOUR\n", nil},
		{"crlf kept", "a\r\nb\r\n", []Op{{Op: OpInsertAfter, Tag: Tag(1, "a"), Text: ptr("new")}}, "a\r\nnew\r\nb\r\n", nil},
		{"mixed endings kept", "a\r\nb\nc\n", []Op{{Op: OpReplaceLine, Tag: Tag(3, "c"), Text: ptr("C")}}, "a\r\nb\nC\n", nil},
		{"no final newline kept", "a\nb", []Op{{Op: OpInsertAfter, Tag: Tag(2, "b"), Text: ptr("c")}}, "a\nb\nc", nil},
		{"no final newline replace", "a\nb", []Op{{Op: OpReplaceLine, Tag: Tag(2, "b"), Text: ptr("B\n")}}, "a\nB", nil},
		{"empty file insert", "", []Op{{Op: OpInsertAfter, Tag: BOF, Text: ptr("x")}}, "x\n", nil},
		{"stale", src, []Op{{Op: OpReplaceLine, Tag: Tag(2, "old two"), Text: ptr("x")}}, "", &StaleError{}},
		{"shifted line is stale", src, []Op{{Op: OpReplaceLine, Tag: Tag(1, "two"), Text: ptr("x")}}, "", &StaleError{}},
		{"conflict", src, []Op{{Op: OpDeleteLine, Tag: tg[1]}, {Op: OpReplaceRange, TagFrom: tg[0], TagTo: tg[2], Text: ptr("x")}}, "", ErrBadOp},
		{"reversed range", src, []Op{{Op: OpReplaceRange, TagFrom: tg[2], TagTo: tg[1], Text: ptr("x")}}, "", ErrBadOp},
		{"no ops", src, nil, "", ErrBadOp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Apply(Parse([]byte(tt.src)), tt.ops)
			switch want := tt.err.(type) {
			case nil:
				if err != nil {
					t.Fatal(err)
				}
				if got := string(out.Bytes()); got != tt.want {
					t.Fatalf("got %q want %q", got, tt.want)
				}
			case *StaleError:
				var se *StaleError
				if !errors.As(err, &se) {
					t.Fatalf("err = %v, want stale", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
		})
	}
}

// TestApplyMatchesReread: a line whose text ends in "\r" and then gets a
// "\n" reads back as a CRLF line; Apply must report it that way, or the tags
// edit_file shows differ from the tags read_file gives next.
func TestApplyMatchesReread(t *testing.T) {
	for _, c := range []struct {
		name, src string
		op        Op
	}{
		{"new text ends in CR CR", "a\nb\n", Op{Op: OpReplaceLine, Tag: Tag(1, "a"), Text: ptr("x\r\r")}},
		{"kept last line ending in CR gains a newline", "a\nb\r", Op{Op: OpInsertAfter, Tag: Tag(2, "b\r"), Text: ptr("c")}},
		{"lone CR kept without newline", "a\nb\r", Op{Op: OpReplaceLine, Tag: Tag(1, "a"), Text: ptr("z")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := Apply(Parse([]byte(c.src)), []Op{c.op})
			if err != nil {
				t.Fatal(err)
			}
			re := Parse(out.Bytes())
			if len(re.Lines) != len(out.Lines) {
				t.Fatalf("%d lines applied, %d re-read", len(out.Lines), len(re.Lines))
			}
			for i := range re.Lines {
				if re.Lines[i] != out.Lines[i] {
					t.Errorf("line %d: applied %q, re-read %q", i+1, out.Lines[i], re.Lines[i])
				}
			}
		})
	}
}

func TestStaleShowsNearby(t *testing.T) {
	d := Parse([]byte("a\nb\nc\nd\ne\nf\ng\n"))
	_, err := Apply(d, []Op{{Op: OpDeleteLine, Tag: "4:deadbeef"}})
	var se *StaleError
	if !errors.As(err, &se) || len(se.Nearby) != 7 || se.Nearby[3] != FormatLine(4, "d") {
		t.Fatalf("stale error %#v", err)
	}
	if !strings.Contains(err.Error(), "re-read") {
		t.Fatal(err)
	}
}

// TestStaleMovedLine: a line pushed down by an insertion above keeps its
// text; the refusal finds it and shows the lines around its new place.
func TestStaleMovedLine(t *testing.T) {
	old := Parse([]byte("a\nb\nc\nd\n"))
	tagC := old.Tags()[2]
	now := Parse([]byte("new\na\nb\nc\nd\n"))
	_, err := Apply(now, []Op{{Op: OpDeleteLine, Tag: tagC}})
	var se *StaleError
	if !errors.As(err, &se) || len(se.Nearby) == 0 || !slices.Contains(se.Nearby, FormatLine(4, "c")) {
		t.Fatalf("stale error %v", err)
	}
}

func TestDuplicateTagNeedsLine(t *testing.T) {
	// Tags include the line number, so equal tags on two lines are a Blake3
	// prefix collision; simulate it through the index.
	d := Parse([]byte("x\ny\n"))
	idx := map[string][]int{"0badc0de": {0, 1}}
	if _, err := d.locate(idx, "0badc0de"); !errors.Is(err, ErrBadOp) {
		t.Fatalf("ambiguous tag: %v", err)
	}
	if i, err := d.locate(idx, "2:0badc0de"); err != nil || i != 1 {
		t.Fatalf("hinted tag: %d %v", i, err)
	}
}

func TestDecodeOps(t *testing.T) {
	good := `[{"op":"replace_line","tag":"0123abcd","text":"x"},{"op":"insert_after","tag":"BOF","text":""},{"op":"delete_range","tag_from":"1:0123abcd","tag_to":"2 0123abcd"}]`
	if ops, err := DecodeOps([]byte(good)); err != nil || len(ops) != 3 {
		t.Fatalf("%v %v", ops, err)
	}
	for _, bad := range []string{
		``, `{}`, `[]`, `[{"op":"nope","tag":"0123abcd"}]`,
		`[{"op":"replace_line","tag":"0123abcd"}]`,
		`[{"op":"delete_line","tag":"0123abcd","text":"x"}]`,
		`[{"op":"delete_line","tag":"XYZ"}]`,
		`[{"op":"delete_line","tag":"0123ABCD"}]`,
		`[{"op":"delete_line","tag":"BOF"}]`,
		`[{"op":"replace_range","tag":"0123abcd","text":"x"}]`,
		`[{"op":"delete_line","tag":"0123abcd","extra":1}]`,
		`[{"op":"delete_line","tag":"0123abcd"}] []`,
	} {
		if _, err := DecodeOps([]byte(bad)); !errors.Is(err, ErrBadOp) {
			t.Fatalf("DecodeOps(%s) = %v", bad, err)
		}
	}
}

// TestApplyProperty: random edits, then re-parsing the output gives the same
// lines, every line's tag is Tag(n, text), untouched lines keep their text
// and endings, and the final-newline state is kept.
func TestApplyProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 500 {
		var b strings.Builder
		n := rng.IntN(30)
		for i := range n {
			fmt.Fprintf(&b, "l%d-%d", i, rng.IntN(5))
			if i < n-1 || rng.IntN(2) == 0 {
				b.WriteString([]string{"\n", "\r\n"}[rng.IntN(2)])
			}
		}
		src := b.String()
		d := Parse([]byte(src))
		tags := d.Tags()
		var ops []Op
		used := map[int]bool{}
		for range rng.IntN(4) + 1 {
			if len(d.Lines) == 0 {
				ops = append(ops, Op{Op: OpInsertAfter, Tag: BOF, Text: ptr("new")})
				continue
			}
			i := rng.IntN(len(d.Lines))
			switch rng.IntN(3) {
			case 0:
				ops = append(ops, Op{Op: OpInsertAfter, Tag: tags[i], Text: ptr(fmt.Sprintf("ins%d", iter))})
			case 1:
				if !used[i] {
					used[i] = true
					ops = append(ops, Op{Op: OpReplaceLine, Tag: tags[i], Text: ptr("rep\nrep2")})
				}
			case 2:
				if !used[i] {
					used[i] = true
					ops = append(ops, Op{Op: OpDeleteLine, Tag: tags[i]})
				}
			}
		}
		out, err := Apply(d, ops)
		if err != nil {
			t.Fatalf("iter %d: %v", iter, err)
		}
		re := Parse(out.Bytes())
		if len(re.Lines) != len(out.Lines) {
			t.Fatalf("iter %d: reparse %d lines, applied %d (%q)", iter, len(re.Lines), len(out.Lines), out.Bytes())
		}
		for k, tag := range re.Tags() {
			if re.Lines[k] != out.Lines[k] || tag != Tag(k+1, out.Lines[k].Text) {
				t.Fatalf("iter %d line %d inconsistent", iter, k)
			}
		}
		hadFinal := strings.HasSuffix(src, "\n")
		if len(out.Lines) > 0 && len(d.Lines) > 0 && strings.HasSuffix(string(out.Bytes()), "\n") != hadFinal {
			t.Fatalf("iter %d: final newline changed: %q -> %q", iter, src, out.Bytes())
		}
		// Re-applying with the new tags works: tags are consistent.
		if len(out.Lines) > 0 {
			last := len(out.Lines) - 1
			if _, err := Apply(out, []Op{{Op: OpReplaceLine, Tag: re.Tags()[last], Text: ptr("z")}}); err != nil {
				t.Fatalf("iter %d: re-edit: %v", iter, err)
			}
		}
	}
}

func FuzzDecodeOps(f *testing.F) {
	f.Add([]byte(`[{"op":"replace_line","tag":"0123abcd","text":"x"}]`))
	f.Add([]byte(`[{"op":"replace_range","tag_from":"1:0123abcd","tag_to":"0123abce","text":"a\nb"}]`))
	f.Add([]byte(`[{"op":"insert_after","tag":"BOF","text":""}]`))
	f.Add([]byte(`[{}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ops, err := DecodeOps(raw)
		if err != nil {
			if !errors.Is(err, ErrBadOp) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if Validate(ops) != nil {
			t.Fatal("decoded ops do not validate")
		}
	})
}

func FuzzApply(f *testing.F) {
	f.Add([]byte("a\nb\nc\n"), uint8(0), uint8(1), "x")
	f.Add([]byte("a\r\nb"), uint8(1), uint8(0), "")
	f.Add([]byte(""), uint8(2), uint8(0), "y\nz")
	f.Add([]byte("a\nb\r"), uint8(0), uint8(1), "c")
	f.Add([]byte("a\n"), uint8(1), uint8(0), "x\r\r")
	f.Fuzz(func(t *testing.T, src []byte, kind, line uint8, text string) {
		d := Parse(src)
		if string(d.Bytes()) != string(src) {
			t.Fatal("round trip")
		}
		tag := BOF
		if len(d.Lines) > 0 {
			i := int(line) % len(d.Lines)
			tag = Tag(i+1, d.Lines[i].Text)
		}
		ops := []Op{{Op: OpInsertAfter, Tag: tag, Text: &text}}
		if tag != BOF {
			switch kind % 3 {
			case 1:
				ops = []Op{{Op: OpReplaceLine, Tag: tag, Text: &text}}
			case 2:
				ops = []Op{{Op: OpDeleteLine, Tag: tag}}
			}
		}
		out, err := Apply(d, ops)
		if err != nil {
			if !errors.Is(err, ErrBadOp) {
				t.Fatalf("apply: %v", err)
			}
			return
		}
		re := Parse(out.Bytes())
		if len(re.Lines) != len(out.Lines) {
			t.Fatalf("reparse: %d vs %d lines", len(re.Lines), len(out.Lines))
		}
		for i := range re.Lines {
			if re.Lines[i] != out.Lines[i] {
				t.Fatalf("line %d: applied %q, re-read %q", i+1, out.Lines[i], re.Lines[i])
			}
		}
		// Line count is what the op says, except that an empty last line
		// without newline vanishes (it has no bytes); otherwise the final
		// newline state is kept.
		want := len(d.Lines)
		switch ops[0].Op {
		case OpInsertAfter:
			want += len(splitText(text))
		case OpReplaceLine:
			want += len(splitText(text)) - 1
		case OpDeleteLine:
			want--
		}
		srcFinal := len(src) > 0 && src[len(src)-1] == '\n'
		outFinal := strings.HasSuffix(string(out.Bytes()), "\n")
		switch {
		case len(out.Lines) == want:
			if len(src) > 0 && len(out.Lines) > 0 && srcFinal != outFinal {
				t.Fatalf("final newline changed: %q -> %q", src, out.Bytes())
			}
		case len(out.Lines) == want-1 && !srcFinal:
		default:
			t.Fatalf("%d lines, want %d", len(out.Lines), want)
		}
	})
}

func ExampleApply() {
	d := Parse([]byte("package main\n// hi\nfunc main() {}\n"))
	fmt.Print(d.Render(0, 0))
	tag := d.Tags()[2]
	text := "func main() { println(\"hi\") }"
	out, err := Apply(d, []Op{{Op: OpReplaceLine, Tag: tag, Text: &text}})
	if err != nil {
		panic(err)
	}
	fmt.Print(string(out.Bytes()))
	// Output:
	//    1 15d20b65 | package main
	//    2 68e273a0 | // hi
	//    3 dd4c193f | func main() {}
	// package main
	// // hi
	// func main() { println("hi") }
}
