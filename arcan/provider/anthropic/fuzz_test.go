package anthropic

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
)

func FuzzDecode(f *testing.F) {
	for _, s := range []string{toolStream, errorStream, "data: {\"type\":\"message_stop\"}\n\n", "data: {\"type\":\"content_block_stop\",\"index\":3}\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		resp := &http.Response{Body: io.NopCloser(strings.NewReader(body))}
		decode(context.Background(), resp, func(ev aios.ProviderEvent, err error) bool {
			if err == nil && ev.Kind == aios.ProviderDone && ev.Finish == nil {
				t.Fatal("done without finish")
			}
			return true
		})
	})
}
