// Package arcan is the Life-Go agent runtime: the agent loop (runtime),
// the model providers (provider: mock, Anthropic, OpenAI-compatible), the
// arcand HTTP daemon (server, cmd/arcand) and the arcan command line
// (cmd/arcan: shell, serve, replay, sessions, chat, identity, version).
// Every step of a run is an event in the lago journal, and every state is
// rebuilt from it; `echo "What files are in this directory?" | arcan shell`
// runs an agent on the embedded defaults with no API key.
package arcan
