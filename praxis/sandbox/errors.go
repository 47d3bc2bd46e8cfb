package sandbox

import (
	"errors"
	"fmt"

	"github.com/lifeos/life/aios"
)

// ErrViolation is matched (errors.Is) by every [*ViolationError].
var ErrViolation = errors.New("sandbox: violation")

// ErrIsolationUnavailable is matched when the isolated tier was asked for but
// no isolation mechanism actually works on this machine.
var ErrIsolationUnavailable = errors.New("sandbox: isolation unavailable")

// Rules named by a [ViolationError]; they are journaled as the
// SandboxViolation's violation_type, so they are part of the wire contract.
const (
	RuleOutsideWorkspace = "path_outside_workspace" // lexical escape: absolute path or ".." chain
	RuleSymlinkEscape    = "symlink_escape"         // a symlink resolves outside the workspace
	RuleRaceEscape       = "path_changed_escape"    // the path changed between check and use
	RuleDeniedPath       = "path_denied"            // inside the workspace but on the deny list
	RuleReadOnly         = "workspace_read_only"    // a write under a read-only policy
	RuleBadPath          = "invalid_path"           // empty, NUL byte, ...
	RuleShellDenied      = "shell_denied"           // bash -c under a policy without a shell
	RuleExecDenied       = "exec_denied"            // commands are switched off
	RuleCommandDenied    = "command_denied"         // argv[0] not on the allow list
	RuleDirOutside       = "workdir_outside_workspace"
)

// ViolationError is a sandbox refusal. It names the rule and the path as the
// caller gave it, never any content.
type ViolationError struct {
	Rule   string
	Path   string
	Detail string
}

func (e *ViolationError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("sandbox: %s: %q", e.Rule, e.Path)
	}
	return fmt.Sprintf("sandbox: %s: %q: %s", e.Rule, e.Path, e.Detail)
}

// Is makes errors.Is(err, ErrViolation) true.
func (e *ViolationError) Is(target error) bool { return target == ErrViolation }

// Event is the journal fact for this refusal.
func (e *ViolationError) Event(sandboxID string) *aios.SandboxViolation {
	d := fmt.Sprintf("%q", e.Path)
	if e.Detail != "" {
		d += ": " + e.Detail
	}
	return &aios.SandboxViolation{SandboxID: sandboxID, ViolationType: e.Rule, Details: d}
}

// AsViolation returns the violation inside err, if any.
func AsViolation(err error) (*ViolationError, bool) {
	var v *ViolationError
	ok := errors.As(err, &v)
	return v, ok
}
