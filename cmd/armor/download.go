package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/prunebench/armor/datasets"
)

func init() {
	commands["download"] = command{summary: "fetch a hub file into the local cache (resumable, checksum-verified) and print its path", run: runDownload}
}

func runDownload(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("armor download", flag.ContinueOnError)
	fs.SetOutput(stderr)
	repo := fs.String("repo", "", "hub repository owner/name, e.g. karpathy/tinyllamas")
	file := fs.String("file", "", "file in the repository, e.g. stories15M.bin")
	rev := fs.String("revision", "main", "branch, tag or commit")
	dataset := fs.Bool("dataset", false, "the repository is a dataset")
	sum := fs.String("sha256", "", "expected SHA-256 (hex); the download fails and is removed on mismatch (stories260K files are verified against their pinned digests without it)")
	cache := fs.String("cache", "", "cache directory (default $"+datasets.CacheEnv+" or the user cache dir)")
	base := fs.String("hub", datasets.DefaultHubURL, "hub base URL")
	timeout := fs.Duration("timeout", datasets.DefaultIdleTimeout, "fail when the server sends nothing (connection, headers or data) for this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *repo == "" || *file == "" {
		return errors.New("flags --repo and --file are required")
	}
	if *timeout <= 0 {
		return fmt.Errorf("flag --timeout %s: want a positive duration, e.g. 60s", *timeout)
	}
	d := &datasets.Downloader{BaseURL: *base, CacheDir: *cache, Progress: stderr, IdleTimeout: *timeout}
	if f, ok := stderr.(*os.File); ok {
		d.Terminal = term.IsTerminal(int(f.Fd()))
	}
	p, err := d.Fetch(context.Background(), datasets.HubRef{Repo: *repo, File: *file, Revision: *rev, Dataset: *dataset, SHA256: *sum})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, p)
	return nil
}
