package mcpbridge

import (
	"runtime"
	"strings"
)

// defaultEnvKeys are the host variables every stdio server gets: the set
// of the official MCP SDKs (TypeScript getDefaultEnvironment), enough to
// find programs and a home directory and nothing secret. Everything else
// (API keys, tokens, Vault addresses) stays with praxis unless the config
// names it.
func defaultEnvKeys() []string {
	if runtime.GOOS == "windows" {
		return []string{"APPDATA", "HOMEDRIVE", "HOMEPATH", "LOCALAPPDATA", "PATH", "PROCESSOR_ARCHITECTURE",
			"SYSTEMDRIVE", "SYSTEMROOT", "TEMP", "USERNAME", "USERPROFILE", "PROGRAMFILES"}
	}
	return []string{"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"}
}

// stdioEnv is the whole environment of a stdio server: the default set,
// then the host variables cfg passes through by name, then cfg.Env (later
// entries win, as exec.Cmd keeps the last of a repeated key).
func stdioEnv(cfg ServerConfig, lookup func(string) (string, bool)) []string {
	env := make([]string, 0, len(defaultEnvKeys())+len(cfg.EnvPassthrough)+len(cfg.Env))
	for _, k := range defaultEnvKeys() {
		// A value starting with "()" is an exported shell function
		// (Shellshock's vector): the SDKs leave those out of the defaults.
		if v, ok := lookup(k); ok && !strings.HasPrefix(v, "()") {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range cfg.EnvPassthrough {
		if v, ok := lookup(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, cfg.Env...)
}
