//go:build linux

package oracle

import (
	"errors"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PeerCred is who is on the other end of a Unix socket, as the kernel saw
// it when the peer connected.
type PeerCred struct {
	PID    int32
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups, when the kernel reports them
}

// peerCred reads SO_PEERCRED and SO_PEERGROUPS from a Unix connection.
func peerCred(c *net.UnixConn) (PeerCred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return PeerCred{}, fmt.Errorf("oracle: peer credentials: %w", err)
	}
	var pc PeerCred
	var credErr, groupsErr error
	ctlErr := raw.Control(func(fd uintptr) {
		u, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			credErr = err
			return
		}
		pc.PID, pc.UID, pc.GID = u.Pid, u.Uid, u.Gid
		pc.Groups, groupsErr = peerGroups(int(fd))
	})
	if err := errors.Join(ctlErr, credErr); err != nil {
		return PeerCred{}, fmt.Errorf("oracle: SO_PEERCRED: %w", err)
	}
	if groupsErr != nil {
		pc.Groups = nil // fail closed: only the primary gid counts
	}
	return pc, nil
}

// peerGroups reads SO_PEERGROUPS (Linux 4.13+), which x/sys has no wrapper
// for: an array of gid_t.
func peerGroups(fd int) ([]uint32, error) {
	n := 64
	for range 4 {
		buf := make([]uint32, n)
		size := uint32(len(buf) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		if errno == unix.ERANGE {
			n = int(size/4) + 1
			continue
		}
		if errno != 0 {
			return nil, errno
		}
		return buf[:size/4], nil
	}
	return nil, errors.New("SO_PEERGROUPS keeps growing")
}
