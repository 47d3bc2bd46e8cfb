package mcpbridge

import (
	"errors"
	"testing"
	"time"
)

func TestParseServers(t *testing.T) {
	got, err := ParseServers([]byte(`{"servers":[
		{"namespace":"gh","command":"npx","args":["-y","srv"],"env":["K=V"],"env_passthrough":["GITHUB_TOKEN"],"timeout_ms":1500},
		{"namespace":"docs","url":"http://127.0.0.1:9000/mcp","headers":{"Authorization":"Bearer x"},"category":"net"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Timeout != 1500*time.Millisecond || len(got[0].EnvPassthrough) != 1 || got[0].EnvPassthrough[0] != "GITHUB_TOKEN" || got[1].Headers["Authorization"] != "Bearer x" || got[1].Category != "net" {
		t.Fatalf("%+v", got)
	}
	for _, bad := range []string{
		``, `[]`, `{"servers":[{"namespace":"x"}]}`, `{"servers":[{"namespace":"a b","command":"x"}]}`,
		`{"servers":[{"namespace":"x","command":"c","timeout_ms":-1}]}`,
		`{"servers":[{"namespace":"x","command":"c"},{"namespace":"x","url":"http://h/"}]}`,
		`{"servers":[{"namespace":"x","command":"c","bogus":1}]}`, `{"servers":[]} {}`,
		`{"servers":[{"namespace":"x","command":"c","env_passthrough":["A=B"]}]}`,
		`{"servers":[{"namespace":"x","command":"c","env_passthrough":[""]}]}`,
	} {
		if _, err := ParseServers([]byte(bad)); !errors.Is(err, ErrBadConfig) {
			t.Fatalf("ParseServers(%s) = %v", bad, err)
		}
	}
}

func FuzzParseServers(f *testing.F) {
	f.Add([]byte(`{"servers":[{"namespace":"gh","command":"npx","args":["a"],"timeout_ms":10}]}`))
	f.Add([]byte(`{"servers":[{"namespace":"d","url":"https://h:1/mcp","headers":{"a":"b"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := ParseServers(b)
		if err != nil {
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		for _, c := range cs {
			if c.Validate() != nil {
				t.Fatalf("invalid config accepted: %+v", c)
			}
		}
	})
}
