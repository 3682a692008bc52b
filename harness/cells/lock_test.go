package cells

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// When ARMOR_LOCK_HOLDER names a cells file, the test binary acts as a
// second process: it takes the lock, prints "locked", and holds it until
// its stdin closes.
func TestMain(m *testing.M) {
	if p := os.Getenv("ARMOR_LOCK_HOLDER"); p != "" {
		l, err := Acquire(p)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println("locked")
		bufio.NewReader(os.Stdin).ReadString('\n')
		l.Release()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestLockRefusesSecondProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results", "exp")
	path := filepath.Join(dir, "cells.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ARMOR_LOCK_HOLDER="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("holder process: %q, %v", line, err)
	}

	start := time.Now()
	_, err = Acquire(path)
	if err == nil {
		t.Fatal("second process got the lock held by the first")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Acquire waited %s instead of failing fast", time.Since(start))
	}
	for _, want := range []string{dir, fmt.Sprintf("PID %d", cmd.Process.Pid)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}

	// Once the holder exits, the lock is free again.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(path)
	if err != nil {
		t.Fatalf("after the holder exited: %v", err)
	}
	// Within one process a second Acquire (another descriptor) is refused too.
	if _, err := Acquire(path); err == nil {
		t.Error("second Acquire in the same process succeeded")
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
}

func TestLockSeparateFilesIndependent(t *testing.T) {
	dir := t.TempDir()
	a, err := Acquire(filepath.Join(dir, "cells.shard-0-of-2.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	b, err := Acquire(filepath.Join(dir, "cells.shard-1-of-2.jsonl"))
	if err != nil {
		t.Fatalf("two shards of one directory must run side by side: %v", err)
	}
	b.Release()
}
