package stack

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDaemonURL(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"127.0.0.1:3000", "http://127.0.0.1:3000"},
		{"0.0.0.0:3000", "http://127.0.0.1:3000"},
		{"[::]:3000", "http://[::1]:3000"},
		{"[::1]:4000", "http://[::1]:4000"},
		{"10.0.0.2:80", "http://10.0.0.2:80"},
	}
	for _, tc := range tests {
		addr, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := DaemonURL(addr); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.addr, got, tc.want)
		}
	}
}

// deadPID is the pid of a child that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestFindDaemon(t *testing.T) {
	arcand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Write([]byte(`{"status":"ok"}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer arcand.Close()
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	me, dead := os.Getpid(), deadPID(t)
	tests := []struct {
		name string
		file *Daemon // nil: no file
		raw  string  // written as is when set
		want string  // "" means found
	}{
		{"good", &Daemon{URL: arcand.URL, PID: me}, "", ""},
		{"no file", nil, "", "no "},
		{"garbage", nil, "{not json", "arcand.json"},
		{"dead pid", &Daemon{URL: arcand.URL, PID: dead}, "", "is not running"},
		{"no pid", &Daemon{URL: arcand.URL}, "", "is not running"},
		{"url not answering", &Daemon{URL: closedURL, PID: me}, "", "does not answer"},
		{"not arcand", &Daemon{URL: other.URL, PID: me}, "", "HTTP 404"},
		{"bad url", &Daemon{URL: "ftp://x", PID: me}, "", "bad URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			switch {
			case tc.raw != "":
				os.WriteFile(DaemonPath(home), []byte(tc.raw), 0o600)
			case tc.file != nil:
				if err := WriteDaemon(home, *tc.file); err != nil {
					t.Fatal(err)
				}
			}
			d, err := FindDaemon(context.Background(), home)
			if tc.want == "" {
				if err != nil || d != *tc.file {
					t.Fatalf("%+v %v", d, err)
				}
				return
			}
			if !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrNoDaemon with %q", err, tc.want)
			}
		})
	}
}

func TestWriteRemoveDaemon(t *testing.T) {
	home := t.TempDir()
	if err := WriteDaemon(home, Daemon{URL: "http://127.0.0.1:1", PID: 7}); err != nil {
		t.Fatal(err)
	}
	if err := WriteDaemon(home, Daemon{URL: "http://127.0.0.1:2", PID: 8}); err != nil {
		t.Fatal(err)
	}
	// No temp files left behind; the second write replaced the first.
	if m, _ := filepath.Glob(filepath.Join(home, ".arcand-*")); len(m) != 0 {
		t.Fatalf("temp files left: %v", m)
	}
	if d, err := readDaemon(home); err != nil || d.PID != 8 {
		t.Fatalf("%+v %v", d, err)
	}
	// Another pid's file is not removed; our own is.
	RemoveDaemon(home, 7)
	if _, err := os.Stat(DaemonPath(home)); err != nil {
		t.Fatalf("removed another daemon's file: %v", err)
	}
	RemoveDaemon(home, 8)
	if _, err := os.Stat(DaemonPath(home)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there: %v", err)
	}
}

func TestOpenJournalLocked(t *testing.T) {
	home := t.TempDir()
	j, err := OpenJournal(home, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenJournalWait(home, true, nil, ReadLockTimeout)
	if !errors.Is(err, ErrJournalLocked) {
		t.Fatalf("second open: %v, want ErrJournalLocked", err)
	}
	j.Close()
	j, err = OpenJournalWait(home, true, nil, ReadLockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
}
