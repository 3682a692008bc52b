package cells

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Lock is an exclusive advisory lock (flock) on a cells file, held by one
// process while it writes that file or the tables next to it. It lives in
// path+".lock"; the holder's PID is written into it so that a refused
// process can say who holds it. The lock is released when the holder closes
// it or exits (even by kill -9), so a stale lock file never blocks a rerun.
type Lock struct {
	f    *os.File
	path string
}

// LockPath is the lock file that guards the cells file at path.
func LockPath(path string) string { return path + ".lock" }

// Acquire takes the lock that guards the cells file at path (creating its
// directory if needed) without waiting. If another process holds it, the
// error names the results directory, the lock file and the holder's PID.
func Acquire(path string) (*Lock, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lp := LockPath(path)
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("results directory %s: opening lock file: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("results directory %s is in use by another armor process (%s holds %s); wait for it to finish, or use --shard i/n to run sweeps side by side", dir, holder, lp)
		}
		return nil, fmt.Errorf("results directory %s: locking %s: %w", dir, lp, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("results directory %s: writing %s: %w", dir, lp, err)
		}
	}
	return &Lock{f: f, path: lp}, nil
}

func readHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid := strings.TrimSpace(string(b[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return "a process of unknown PID"
	}
	return "PID " + pid
}

// Release drops the lock. The lock file stays (removing it would let two
// processes lock different files of the same name).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	return err
}
