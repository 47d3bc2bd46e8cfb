// Package providertest holds helpers for testing aios.Provider
// implementations.
package providertest

import (
	"context"
	"strings"

	"github.com/lifeos/life/aios"
)

// Result is a provider stream gathered whole.
type Result struct {
	Text   string
	Calls  []aios.ToolCall
	Finish *aios.Finish // nil unless the stream ended normally
	Err    error        // the error that ended the stream, if any
}

// Collect runs one provider call and gathers its stream, stopping at the
// first error.
func Collect(ctx context.Context, p aios.Provider, req aios.ChatRequest) Result {
	var r Result
	var b strings.Builder
	for ev, err := range p.Stream(ctx, req) {
		if err != nil {
			r.Err = err
			break
		}
		switch ev.Kind {
		case aios.ProviderTextDelta:
			b.WriteString(ev.Text)
		case aios.ProviderToolCall:
			r.Calls = append(r.Calls, *ev.ToolCall)
		case aios.ProviderDone:
			r.Finish = ev.Finish
		}
	}
	r.Text = b.String()
	return r
}
