package datasets

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prunebench/armor/internal/shared"
)

// pinnedRef is stories260K as a user names it on the command line: no
// --sha256, so only the pinned digest can catch a bad body.
var pinnedRef = HubRef{Repo: HubStories260K.Repo, File: HubStories260K.File}

func stories260K(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(shared.Path(t, "data", "README.md")), RelStories260K))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serve starts a localhost server answering every request with h.
func serve(t *testing.T, h http.HandlerFunc) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDownloadBadBodies(t *testing.T) {
	full := stories260K(t)
	tampered := append([]byte(nil), full...)
	tampered[len(tampered)/3] ^= 1
	tests := []struct {
		name string
		h    http.HandlerFunc
		want string // substring of the error
	}{
		{"tampered without --sha256", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(tampered)
		}, "sha256"},
		{"truncated without Content-Length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(full[:len(full)/2]) // Flush first: chunked, no Content-Length
			w.(http.Flusher).Flush()
		}, "sha256"},
		{"HTML page", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html><body>hi</body></html>"))
		}, "HTML page"},
		{"HTML page served as binary", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write([]byte("\n<!DOCTYPE html><p>log in</p>"))
		}, "HTML page"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &Downloader{BaseURL: serve(t, tc.h), CacheDir: t.TempDir()}
			p, err := d.Fetch(context.Background(), pinnedRef)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fetch = %q, %v; want an error containing %q", p, err, tc.want)
			}
			cp, _ := d.CachePath(pinnedRef)
			if _, err := os.Stat(cp); err == nil {
				t.Errorf("%s is in the cache after a bad download", cp)
			}
		})
	}
}

func TestDownloadTamperedCacheRefused(t *testing.T) {
	full := stories260K(t)
	d := &Downloader{BaseURL: serve(t, func(w http.ResponseWriter, r *http.Request) { t.Error("network used") }), CacheDir: t.TempDir(), Offline: true}
	cp, _ := d.CachePath(pinnedRef)
	os.MkdirAll(filepath.Dir(cp), 0o755)
	bad := append([]byte(nil), full...)
	bad[0] ^= 1
	if err := os.WriteFile(cp, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	var ce *ChecksumError
	if _, err := d.Fetch(context.Background(), pinnedRef); !errors.As(err, &ce) {
		t.Fatalf("tampered cached file: %v, want a checksum error", err)
	}
}

// A stale .partial answered by 416 is not complete: with a known digest it
// is verified and, failing, downloaded again; without one the server's size
// decides, else it is downloaded again.
func TestDownloadStalePartial416(t *testing.T) {
	full := stories260K(t)
	handler := func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			w.Header().Set("Content-Range", "bytes */"+strconv.Itoa(len(full)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(full)
	}
	for _, ref := range []HubRef{pinnedRef, {Repo: "someone/model", File: "m.bin"}} {
		d := &Downloader{BaseURL: serve(t, handler), CacheDir: t.TempDir()}
		cp, _ := d.CachePath(ref)
		os.MkdirAll(filepath.Dir(cp), 0o755)
		stale := []byte(strings.Repeat("x", len(full)+10)) // longer than the file: the server says 416
		if err := os.WriteFile(cp+".partial", stale, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := d.Fetch(context.Background(), ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		got, _ := os.ReadFile(p)
		if string(got) != string(full) {
			t.Errorf("%s: a stale partial file was taken as complete (%d bytes)", ref, len(got))
		}
	}
}

func TestDownloadStalledServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	for _, stallAfterHeader := range []bool{false, true} {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if stallAfterHeader {
				w.Header().Set("Content-Length", "1000")
				w.Write([]byte("abc"))
				w.(http.Flusher).Flush()
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		d := &Downloader{BaseURL: url, CacheDir: t.TempDir(), IdleTimeout: 200 * time.Millisecond}
		done := make(chan error, 1)
		go func() {
			_, err := d.Fetch(context.Background(), HubRef{Repo: "someone/model", File: "m.bin"})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "stalled") {
				t.Errorf("stall after header=%v: %v, want a stall error", stallAfterHeader, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("stall after header=%v: download still hanging", stallAfterHeader)
		}
	}
}

func TestHubRefEscapesRefused(t *testing.T) {
	d := &Downloader{CacheDir: t.TempDir()}
	for _, ref := range []HubRef{
		{Repo: "a/b", File: "f", Revision: ".."},
		{Repo: "a/b", File: "f", Revision: "."},
		{Repo: "a/b", File: "f", Revision: "refs/../../x"},
		{Repo: "a/b", File: "."},
		{Repo: "a/b", File: "x/../../../etc"},
		{Repo: "a/b", File: "x/./y"},
		{Repo: "a/b", File: "x//y"},
		{Repo: "a/b", File: "..\\x"},
	} {
		if p, err := d.CachePath(ref); err == nil {
			t.Errorf("%+v accepted as %s", ref, p)
		}
	}
	if _, err := d.CachePath(HubRef{Repo: "a/b", File: "dir/f.bin", Revision: "refs/pr/1"}); err != nil {
		t.Errorf("good reference refused: %v", err)
	}
}
