package hashline

import "testing"

func BenchmarkTag(b *testing.B) {
	for b.Loop() {
		_ = Tag(1234, "\tline 1234 of a reasonably long Go source file, x := y + 1234")
	}
}
