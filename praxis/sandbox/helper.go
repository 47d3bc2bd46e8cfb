package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

// HelperArg is the first argument that makes [MaybeRunHelper] take over.
const HelperArg = "__praxis-landlock-exec"

// MaybeRunHelper must be called first thing in main (and TestMain) of a
// binary used as [RunnerOptions.Helper]. When the process was started as the
// helper it applies Landlock to itself and execs the command, never
// returning; otherwise it returns at once. Landlock survives execve, and Go
// cannot run code between fork and exec, hence the re-exec.
func MaybeRunHelper() {
	if len(os.Args) < 2 || os.Args[1] != HelperArg {
		return
	}
	if err := runHelper(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "praxis landlock helper:", err)
		os.Exit(126)
	}
}

func runHelper(args []string) error {
	var rw []string
	noNet := false
	for len(args) > 0 && args[0] != "--" {
		switch args[0] {
		case "--rw":
			if len(args) < 2 {
				return errors.New("--rw needs a directory")
			}
			rw = append(rw, args[1])
			args = args[2:]
		case "--no-net":
			noNet = true
			args = args[1:]
		default:
			return fmt.Errorf("unknown flag %q", args[0])
		}
	}
	if len(args) < 2 {
		return errors.New("usage: " + HelperArg + " [--rw DIR]... [--no-net] -- argv")
	}
	argv := args[1:]
	abi, err := llsys.LandlockGetABIVersion()
	if err != nil || abi < 1 {
		return fmt.Errorf("landlock not supported by this kernel: %v", err)
	}
	cfgs := []landlock.Config{landlock.V1, landlock.V2, landlock.V3, landlock.V4, landlock.V5, landlock.V6, landlock.V7}
	cfg := cfgs[min(abi, len(cfgs))-1]
	var ro []string
	for _, d := range systemDirs {
		if _, err := os.Stat(d); err == nil {
			ro = append(ro, d)
		}
	}
	ro = append(ro, "/proc")
	rules := []landlock.Rule{
		landlock.RODirs(ro...),
		landlock.RWDirs(rw...),
		landlock.RWFiles("/dev/null", "/dev/zero", "/dev/tty").IgnoreIfMissing(),
		landlock.ROFiles("/dev/urandom", "/dev/random").IgnoreIfMissing(),
	}
	if noNet && abi >= 4 {
		err = cfg.Restrict(rules...) // no net rules: every TCP bind/connect is denied
	} else {
		err = cfg.RestrictPaths(rules...)
	}
	if err != nil {
		return fmt.Errorf("landlock restrict: %w", err)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}
