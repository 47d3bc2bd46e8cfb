package wire

import (
	"strings"
	"testing"
	"time"
)

func TestReadSSE(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"basic", "event: a\ndata: 1\n\ndata: 2\n\n", []Event{{Name: "a", Data: "1"}, {Data: "2"}}},
		{"crlf and multiline", "data: x\r\ndata: y\r\nid: 7\r\n\r\n", []Event{{Data: "x\ny", ID: "7"}}},
		{"comments and no space", ": keepalive\ndata:z\n\n", []Event{{Data: "z"}}},
		{"no trailing blank line", "data: last", []Event{{Data: "last"}}},
		{"event without data is dropped", "event: ping\n\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []Event
			for ev, err := range ReadSSE(strings.NewReader(tc.in)) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ev)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v", got)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("event %d: %+v want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
	long := "data: " + strings.Repeat("x", MaxLine+1) + "\n\n"
	var err error
	for _, e := range ReadSSE(strings.NewReader(long)) {
		err = e
	}
	if err == nil {
		t.Fatal("over-long line accepted")
	}
}

func TestRetryAfterAndBackoff(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"2":                             2 * time.Second,
		"0.5":                           500 * time.Millisecond,
		"-1":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:03 GMT": 3 * time.Second,
		"Wed, 31 Dec 2025 00:00:00 GMT": 0,
	} {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("%q: %s want %s", in, got, want)
		}
	}
	r := Retry{Base: 100 * time.Millisecond, Cap: time.Second}
	if d := r.Backoff(0, 5*time.Second); d != time.Second {
		t.Errorf("retry-after not capped: %s", d)
	}
	if d := r.Backoff(0, 300*time.Millisecond); d != 300*time.Millisecond {
		t.Errorf("retry-after not honoured: %s", d)
	}
	for n := range 10 {
		d := r.Backoff(n, 0)
		lo := min(r.Base<<n/2, time.Second)
		if d < lo || d > time.Second {
			t.Errorf("backoff %d = %s", n, d)
		}
	}
}

func FuzzReadSSE(f *testing.F) {
	f.Add("event: a\ndata: 1\n\n")
	f.Add("data: x\r\ndata: y\r\n\r\n: c\n")
	f.Add("data")
	f.Fuzz(func(t *testing.T, in string) {
		for ev, err := range ReadSSE(strings.NewReader(in)) {
			if err == nil && !strings.Contains(in, "data") {
				t.Fatalf("event %+v from input without data", ev)
			}
		}
	})
}
