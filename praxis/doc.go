// Package praxis is the only way an agent touches the outside world: a tool
// registry (aios.ToolRegistry), a dispatcher that puts every call through
// the policy gate and reports each step to a journal hook, and
// [NewCanonicalRegistry], which builds the sandboxed canonical tool set for
// one workspace in a single call. The parts live in subpackages: sandbox
// (FsPolicy, command runner, isolation tiers), hashline (tagged editing),
// tools (the canonical tools), policy (the gate), skills (SKILL.md
// registry) and mcpbridge (MCP client and server).
package praxis
