// Command armor is the command-line front end of the 2:4 pruning benchmark:
// it prunes single layers, runs YAML-configured sweeps, renders tables and
// evaluates models. Run `armor help` for the subcommands, `armor help <cmd>`
// (or `armor <cmd> -h`) for a subcommand's flags and `armor --version` for
// the build.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"

	"github.com/prunebench/armor/internal/blasimpl"
)

// command is one subcommand: run gets the arguments after the subcommand's
// name and writes its results to stdout and its diagnostics to stderr.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// commands is filled by each subcommand's file in an init function.
var commands = map[string]command{}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// isHelp reports whether a is one of the help flags.
func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// wantsHelp reports whether args ask for help before a "--" terminator.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelp(a) {
			return true
		}
	}
	return false
}

// run dispatches to a subcommand and returns the process exit status:
// 0 on success and on a requested help text (written to stdout), 1 when the
// subcommand failed, 2 on a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch {
	case isHelp(args[0]):
		usage(stdout)
		return 0
	case args[0] == "--version" || args[0] == "-version" || args[0] == "version":
		fmt.Fprint(stdout, versionText())
		return 0
	case args[0] == "help":
		if len(args) == 1 {
			usage(stdout)
			return 0
		}
		if _, ok := commands[args[1]]; !ok {
			fmt.Fprintf(stderr, "armor help: unknown subcommand %q\n", args[1])
			usage(stderr)
			return 2
		}
		return run([]string{args[1], "-h"}, stdout, stderr)
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "armor: unknown subcommand %q\n", args[0])
		usage(stderr)
		return 2
	}
	if wantsHelp(args[1:]) {
		// The flag sets print their usage to the writer given as stderr:
		// asked-for help goes to stdout.
		fmt.Fprintf(stdout, "armor %s: %s\n\n", args[0], cmd.summary)
		err := cmd.run(args[1:], stdout, stdout)
		if err == nil || errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "armor %s: %v\n", args[0], err)
		return 2
	}
	if err := cmd.run(args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "armor %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: armor <subcommand> [flags]")
	fmt.Fprintln(w, "       armor help <subcommand>   (or armor <subcommand> -h) for its flags")
	fmt.Fprintln(w, "       armor --version")
	fmt.Fprintln(w, "\nsubcommands:")
	names := make([]string, 0, len(commands))
	width := 0
	for n := range commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s %s\n", width, n, commands[n].summary)
	}
}

// buildCommit is the VCS commit stamped by the Makefile
// (-ldflags "-X main.buildCommit=..."), used when the build information has
// none (builds with -buildvcs=false, or from outside a checkout).
var buildCommit string

// versionText is what `armor --version` prints: the module version and
// VCS commit from the build information, the Go toolchain and the BLAS
// backend compiled in.
func versionText() string {
	version, commit, modified, when := "(devel)", "unknown", false, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			case "vcs.time":
				when = s.Value
			}
		}
	}
	if commit == "unknown" && buildCommit != "" {
		commit = buildCommit
	}
	if modified {
		commit += " (modified)"
	}
	if when != "" {
		commit += ", " + when
	}
	return fmt.Sprintf("armor %s\ncommit: %s\ngo: %s %s/%s\nblas: %s\n",
		version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH, blasimpl.Name())
}
