package seal

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes data to path atomically with mode 0600: a temporary file
// in the same directory, fsynced, then renamed over path.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(TempPattern(path)))
	if err != nil {
		return fmt.Errorf("seal: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("seal: chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("seal: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("seal: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("seal: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("seal: rename to %s: %w", path, err)
	}
	// Without the directory fsync the rename can be lost on a power cut
	// after the caller was told the seed is saved.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("seal: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("seal: sync %s: %w", dir, err)
	}
	return nil
}

// TempPattern matches the temporary files WriteFile makes for path; one
// left behind is a write a crash interrupted.
func TempPattern(path string) string {
	return filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
}

// Save seals nothing itself: it writes an already sealed seed to path (0600).
func Save(path string, s *Sealed) error {
	b, err := s.Marshal()
	if err != nil {
		return err
	}
	return WriteFile(path, b)
}

// Load reads and parses a sealed seed file. A file readable by group or
// others is refused: the seal is only as strong as the passphrase. So is
// anything but a regular file (a FIFO would block the reader for good), and
// at most maxFileSize bytes are read.
func Load(path string) (*Sealed, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if err := checkFile(path, fi); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	defer f.Close()
	// The file opened must be the one checked, not a replacement.
	if ofi, err := f.Stat(); err != nil || !os.SameFile(fi, ofi) {
		return nil, fmt.Errorf("%w: %s changed while it was opened", ErrMalformed, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func checkFile(path string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file (%v)", ErrMalformed, path, fi.Mode().Type())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("seal: %s has mode %v; want no group or other access (chmod 600)", path, fi.Mode().Perm())
	}
	return nil
}
