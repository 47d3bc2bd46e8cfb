package bench

import "testing"

// go test -bench . ./internal/bench runs each case and its baseline; compare
// the pairs (benchstat with -count 10 on a quiet machine, or `anima bench`).
func BenchmarkJWS(b *testing.B) {
	cases, err := Cases()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cases {
		b.Run(c.Name+"/anima", Bench(c.Anima))
		b.Run(c.Name+"/baseline", Bench(c.Baseline))
	}
}

func TestCasesRun(t *testing.T) {
	cases, err := Cases()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if err := c.Anima(); err != nil {
			t.Fatalf("%s anima: %v", c.Name, err)
		}
		if err := c.Baseline(); err != nil {
			t.Fatalf("%s baseline: %v", c.Name, err)
		}
	}
}
