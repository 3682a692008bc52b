package datasets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prunebench/armor/internal/shared"
)

// hubServer serves ../shared/data as a fake hub: /<repo>/resolve/<rev>/<file>
// maps to <data>/<file>, with Range support (http.ServeContent). Requests
// are recorded. corrupt lists files served with one byte flipped.
type hubServer struct {
	*httptest.Server
	mu      sync.Mutex
	ranges  []string
	corrupt map[string]bool
	noRange bool
}

func newHubServer(t *testing.T) *hubServer {
	root := filepath.Dir(shared.Path(t, "data", "README.md"))
	h := &hubServer{corrupt: map[string]bool{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, rest, ok := strings.Cut(r.URL.Path, "/resolve/main/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rest)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		h.mu.Lock()
		h.ranges = append(h.ranges, r.Header.Get("Range"))
		corrupt, noRange := h.corrupt[rest], h.noRange
		h.mu.Unlock()
		if corrupt {
			b = append([]byte(nil), b...)
			b[len(b)/2] ^= 0xFF
		}
		if noRange {
			r.Header.Del("Range")
		}
		http.ServeContent(w, r, rest, fileTime, bytes.NewReader(b))
	}))
	t.Cleanup(h.Close)
	return h
}

var fileTime = mustTime()

func sha(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The fake hub stores files under their data-root paths.
var (
	refModel = HubRef{Repo: "karpathy/tinyllamas", File: RelStories260K, SHA256: HubStories260K.SHA256}
	refTok   = HubRef{Repo: "karpathy/tinyllamas", File: RelStories260KTok, SHA256: HubStories260KTok.SHA256}
	refWiki  = HubRef{Repo: "Salesforce/wikitext", File: RelWikiText2Test, Dataset: true, SHA256: "4f3e427e4aff23acff917a8a51aeae21bf12832256e26914c8fc250dcef4103c"}
)

func TestDownloadCacheAndChecksum(t *testing.T) {
	srv := newHubServer(t)
	var log bytes.Buffer
	d := &Downloader{BaseURL: srv.URL, CacheDir: t.TempDir(), Progress: &log}
	for _, ref := range []HubRef{refModel, refTok, refWiki} {
		p, err := d.Fetch(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := sha(t, p); got != ref.SHA256 {
			t.Errorf("%s: sha %s", ref, got)
		}
	}
	n := len(srv.ranges)
	// Cached: no further request.
	if _, err := d.Fetch(context.Background(), refModel); err != nil {
		t.Fatal(err)
	}
	if len(srv.ranges) != n {
		t.Errorf("a cached file was downloaded again")
	}
	if !strings.Contains(log.String(), "downloaded models/stories260K/stories260K.bin") {
		t.Errorf("no progress lines: %q", log.String())
	}
	// Offline with an empty cache: a clear error naming the places looked at.
	off := &Downloader{BaseURL: srv.URL, CacheDir: t.TempDir(), Offline: true}
	_, err := off.Locate(context.Background(), t.TempDir(), RelStories260K, refModel)
	if !errIsNotFound(err) || !strings.Contains(err.Error(), DataRootEnv) || !strings.Contains(err.Error(), "stories260K.bin") {
		t.Errorf("offline error %v", err)
	}
	// The data root wins over the cache and the network.
	root := filepath.Dir(shared.Path(t, "data", "README.md"))
	p, err := off.Locate(context.Background(), root, RelStories260K, refModel)
	if err != nil || p != filepath.Join(root, RelStories260K) {
		t.Errorf("Locate with data root = %q, %v", p, err)
	}
}

func TestDownloadCorruptedFileFailsChecksum(t *testing.T) {
	srv := newHubServer(t)
	srv.corrupt[RelStories260KTok] = true
	d := &Downloader{BaseURL: srv.URL, CacheDir: t.TempDir()}
	_, err := d.Fetch(context.Background(), refTok)
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Want != refTok.SHA256 {
		t.Fatalf("corrupted download: error %v, want a checksum error", err)
	}
	cp, _ := d.CachePath(refTok)
	for _, p := range []string{cp, cp + ".partial"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s kept after a checksum failure", p)
		}
	}
	// Once the server is fixed, the download succeeds.
	srv.corrupt[RelStories260KTok] = false
	if _, err := d.Fetch(context.Background(), refTok); err != nil {
		t.Fatal(err)
	}
}

func TestDownloadResumesPartialFile(t *testing.T) {
	for _, noRange := range []bool{false, true} {
		srv := newHubServer(t)
		srv.noRange = noRange
		d := &Downloader{BaseURL: srv.URL, CacheDir: t.TempDir()}
		cp, err := d.CachePath(refModel)
		if err != nil {
			t.Fatal(err)
		}
		full, err := os.ReadFile(filepath.Join(filepath.Dir(shared.Path(t, "data", "README.md")), RelStories260K))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(cp), 0o755)
		if err := os.WriteFile(cp+".partial", full[:400_000], 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := d.Fetch(context.Background(), refModel)
		if err != nil {
			t.Fatalf("noRange=%v: %v", noRange, err)
		}
		if sha(t, p) != refModel.SHA256 {
			t.Errorf("noRange=%v: resumed file has the wrong digest", noRange)
		}
		if len(srv.ranges) != 1 || srv.ranges[0] != "bytes=400000-" {
			t.Errorf("noRange=%v: requests sent ranges %q, want one from byte 400000", noRange, srv.ranges)
		}
	}
}

func TestHubRefURL(t *testing.T) {
	if got := HubStories15M.URL(""); got != "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories15M.bin" {
		t.Errorf("URL %s", got)
	}
	if got := refWiki.URL("http://x/"); got != "http://x/datasets/Salesforce/wikitext/resolve/main/text/wikitext-2-raw/wiki.test.raw" {
		t.Errorf("URL %s", got)
	}
	if _, err := (&Downloader{CacheDir: "c"}).CachePath(HubRef{Repo: "../x", File: "f"}); err == nil {
		t.Error("bad repository accepted")
	}
}

func mustTime() (t0 time.Time) { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }
