// Package interop holds the interoperability tests that drive the official
// MCP TypeScript SDK (npm @modelcontextprotocol/sdk, in node/) against the
// praxis MCP server and client. The tests skip when node or node/node_modules
// is absent; CI runs `npm ci` in node/ first.
package interop
