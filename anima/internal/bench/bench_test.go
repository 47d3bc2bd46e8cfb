package bench

import "testing"

// go test -bench . ./internal/bench runs each case and its baseline.
func BenchmarkJWS(b *testing.B) {
	cases, err := Cases()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cases {
		b.Run(c.Name+"/anima", c.Anima)
		b.Run(c.Name+"/baseline", c.Baseline)
	}
}

func TestCasesRun(t *testing.T) {
	cases, err := Cases()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		// One iteration each proves the bodies work; timing is for -bench.
		for _, f := range []func(*testing.B){c.Anima, c.Baseline} {
			if r := testing.Benchmark(func(b *testing.B) { b.N = 1; f(b) }); r.N == 0 {
				t.Fatalf("%s failed", c.Name)
			}
		}
	}
}
