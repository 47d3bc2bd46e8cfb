package openai

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{textStream, toolStream, errorStream, truncatedStream, "data: {}\n\n", "data: [DONE]\n\n"} {
		f.Add(s)
	}
	p := New(Config{BaseURL: "http://unused", APIKey: "x"})
	f.Fuzz(func(t *testing.T, body string) {
		resp := &http.Response{Body: io.NopCloser(strings.NewReader(body))}
		p.decode(context.Background(), resp, func(ev aios.ProviderEvent, err error) bool {
			if err == nil && ev.Kind == aios.ProviderToolCall && ev.ToolCall == nil {
				t.Fatal("tool call event without call")
			}
			return true
		})
	})
}
