package datasets

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// HubRef names one file of a Hugging Face hub repository.
type HubRef struct {
	// Repo is "owner/name", e.g. "karpathy/tinyllamas".
	Repo string
	// File is the path inside the repository, e.g. "stories260K/stories260K.bin".
	File string
	// Revision is a branch, tag or commit (default "main").
	Revision string
	// Dataset selects the datasets namespace instead of models.
	Dataset bool
	// SHA256 is the expected hex digest; empty means not verified.
	SHA256 string
}

// Known hub files of the project's standard artifacts (digests as in
// ../shared/data/README.md).
var (
	HubStories260K    = HubRef{Repo: "karpathy/tinyllamas", File: "stories260K/stories260K.bin", SHA256: "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696"}
	HubStories260KTok = HubRef{Repo: "karpathy/tinyllamas", File: "stories260K/tok512.bin", SHA256: "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312"}
	HubStories15M     = HubRef{Repo: "karpathy/tinyllamas", File: "stories15M.bin"}
)

// pinned are the digests the code knows: Fetch verifies these files even
// when the caller gives no digest.
var pinned = map[[2]string]string{
	{HubStories260K.Repo, HubStories260K.File}:       HubStories260K.SHA256,
	{HubStories260KTok.Repo, HubStories260KTok.File}: HubStories260KTok.SHA256,
}

// withPinnedDigest returns ref with its pinned digest when it has none.
func withPinnedDigest(ref HubRef) HubRef {
	if ref.SHA256 == "" && !ref.Dataset {
		ref.SHA256 = pinned[[2]string{ref.Repo, ref.File}]
	}
	return ref
}

// DefaultIdleTimeout is how long a download may wait for a connection, the
// response headers or the next bytes of the body before it fails.
const DefaultIdleTimeout = 60 * time.Second

// DefaultHubURL is the hub's base URL.
const DefaultHubURL = "https://huggingface.co"

// CacheEnv overrides the download cache directory.
const CacheEnv = "ARMOR_CACHE"

func (r HubRef) rev() string {
	if r.Revision == "" {
		return "main"
	}
	return r.Revision
}

func (r HubRef) check() error {
	if strings.Count(r.Repo, "/") != 1 || strings.HasPrefix(r.Repo, "/") || strings.HasSuffix(r.Repo, "/") || strings.Contains(r.Repo, "..") {
		return fmt.Errorf("hub reference %q: repository must be owner/name", r.Repo)
	}
	if r.File == "" || strings.HasPrefix(r.File, "/") || strings.Contains(r.File, "\\") || !cleanSegments(r.File) {
		return fmt.Errorf("hub reference %s: bad file %q (want a relative path inside the repository, with no empty, . or .. part)", r.Repo, r.File)
	}
	if strings.Contains(r.rev(), "\\") || strings.Contains(r.rev(), "/") && !strings.HasPrefix(r.rev(), "refs/") || !cleanSegments(r.rev()) {
		return fmt.Errorf("hub reference %s: bad revision %q (want a branch, tag or commit; no . or .. part)", r.Repo, r.rev())
	}
	return nil
}

// cleanSegments reports whether every /-separated part of p is a name (not
// empty, "." or ".."), so that p cannot leave the directory it is joined to.
func cleanSegments(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// String is "owner/name/file@revision".
func (r HubRef) String() string { return r.Repo + "/" + r.File + "@" + r.rev() }

// URL is the file's download URL under base (DefaultHubURL when empty):
// <base>[/datasets]/<repo>/resolve/<revision>/<file>.
func (r HubRef) URL(base string) string {
	if base == "" {
		base = DefaultHubURL
	}
	ns := ""
	if r.Dataset {
		ns = "/datasets"
	}
	return strings.TrimSuffix(base, "/") + ns + "/" + r.Repo + "/resolve/" + url.PathEscape(r.rev()) + "/" + (&url.URL{Path: r.File}).EscapedPath()
}

// DefaultCacheDir is $ARMOR_CACHE, else <user cache dir>/armor.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory (set %s): %w", CacheEnv, err)
	}
	return filepath.Join(d, "armor"), nil
}

// Downloader fetches hub files into a local cache, once: a file is
// downloaded to <cache>/<kind>/<repo>/<revision>/<file>.partial, resumed
// with an HTTP Range request when a partial file exists, verified against
// its SHA-256 and renamed into place. A cached file is reused without any
// network access (and re-verified when a digest is given).
type Downloader struct {
	// BaseURL is the hub (DefaultHubURL when empty); tests point it at a
	// local server.
	BaseURL string
	// CacheDir is the cache root (DefaultCacheDir when empty).
	CacheDir string
	// Client is the HTTP client (http.DefaultClient when nil).
	Client *http.Client
	// Offline forbids network access: only the data root and the cache
	// are looked at.
	Offline bool
	// Progress receives progress output; Terminal redraws one bar line
	// instead of printing a line at the start and the end.
	Progress io.Writer
	Terminal bool
	// IdleTimeout bounds the wait for a connection, the response headers
	// and each read of the body (DefaultIdleTimeout when 0); a stalled
	// server fails the download instead of hanging it.
	IdleTimeout time.Duration
}

// CachePath is where ref is (or would be) cached.
func (d *Downloader) CachePath(ref HubRef) (string, error) {
	if err := ref.check(); err != nil {
		return "", err
	}
	root := d.CacheDir
	if root == "" {
		var err error
		if root, err = DefaultCacheDir(); err != nil {
			return "", err
		}
	}
	kind := "models"
	if ref.Dataset {
		kind = "datasets"
	}
	base := filepath.Join(root, kind, filepath.FromSlash(ref.Repo))
	p := filepath.Join(base, filepath.FromSlash(ref.rev()), filepath.FromSlash(path.Clean(ref.File)))
	if rel, err := filepath.Rel(base, p); err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("hub reference %s: cache path %s is outside %s", ref, p, base)
	}
	return p, nil
}

// ChecksumError is a downloaded or cached file whose digest is wrong.
type ChecksumError struct {
	Ref       HubRef
	Path      string
	Got, Want string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s: sha256 %s, want %s (the file was removed; download again, or check the reference)", e.Ref, e.Got, e.Want)
}

// Locate returns a local path for ref: root/rel when the data root holds
// it, else the cached copy, else (unless Offline) a fresh download.
func (d *Downloader) Locate(ctx context.Context, root, rel string, ref HubRef) (string, error) {
	var tried []string
	if root != "" && rel != "" {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
		tried = append(tried, p)
	}
	cp, err := d.CachePath(ref)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(cp); err == nil || !d.Offline {
		return d.Fetch(ctx, ref)
	}
	return "", &NotFoundError{What: ref.String(), Tried: append(tried, cp),
		Remedy: fmt.Sprintf("set %s to a local mirror holding %s, or allow downloads from %s", DataRootEnv, rel, ref.URL(d.BaseURL))}
}

// Fetch returns the cached path of ref, downloading it first if needed.
func (d *Downloader) Fetch(ctx context.Context, ref HubRef) (string, error) {
	ref = withPinnedDigest(ref)
	dst, err := d.CachePath(ref)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(dst); err == nil {
		if ref.SHA256 == "" {
			return dst, nil
		}
		if err := verify(ref, dst); err != nil {
			os.Remove(dst)
			return "", err
		}
		return dst, nil
	}
	if d.Offline {
		return "", &NotFoundError{What: ref.String(), Tried: []string{dst}, Remedy: "downloads are disabled (offline); set " + DataRootEnv + " to a local mirror"}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", fmt.Errorf("download %s: %w", ref, err)
	}
	part := dst + ".partial"
	resumed := false
	if st, err := os.Stat(part); err == nil && st.Size() > 0 {
		resumed = true
	}
	if err := d.download(ctx, ref, part); err != nil {
		return "", err
	}
	if ref.SHA256 != "" {
		err := verify(ref, part)
		if err != nil && resumed {
			// The stale partial file may be what is wrong: start over once.
			os.Remove(part)
			if err = d.download(ctx, ref, part); err == nil {
				err = verify(ref, part)
			}
		}
		if err != nil {
			os.Remove(part)
			return "", err
		}
	}
	if err := os.Rename(part, dst); err != nil {
		return "", fmt.Errorf("download %s: %w", ref, err)
	}
	return dst, nil
}

// verify compares the SHA-256 of file p with ref.SHA256.
func verify(ref HubRef, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(got, ref.SHA256) {
		return &ChecksumError{Ref: ref, Path: p, Got: got, Want: strings.ToLower(ref.SHA256)}
	}
	return nil
}

// download appends the rest of the file to part, resuming from its size.
func (d *Downloader) download(ctx context.Context, ref HubRef, part string) error {
	u := ref.URL(d.BaseURL)
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("download %s: %w", ref, err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("download %s: %w", ref, err)
	}
	idle := d.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := fmt.Errorf("no data from %s for %s (server stalled; raise the timeout or retry)", u, idle)
	timer := time.AfterFunc(idle, func() { cancel(stall) })
	defer timer.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("download %s: %w", ref, err)
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if c := context.Cause(ctx); c == stall {
			err = c
		}
		return fmt.Errorf("download %s from %s: %w (partial data is kept in %s; run again to resume)", ref, u, err, part)
	}
	defer resp.Body.Close()
	wantHTML := strings.HasSuffix(ref.File, ".html") || strings.HasSuffix(ref.File, ".htm")
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") && !wantHTML &&
		(resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent) {
		return fmt.Errorf("download %s: %s answered an HTML page (%s), not the file; check the repository, file and revision", ref, u, ct)
	}
	total := resp.ContentLength
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if start, size, ok := parseContentRange(resp.Header.Get("Content-Range")); !ok || start != have {
			return fmt.Errorf("download %s: server answered range %q to a request from byte %d", ref, resp.Header.Get("Content-Range"), have)
		} else if size >= 0 {
			total = size
		} else if total >= 0 {
			total += have
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		// Complete only if the server says the file has exactly the bytes
		// we have ("bytes */size"); the checksum, when known, then decides.
		// Anything else is a stale partial file: start over.
		if _, size, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && size == have {
			return nil
		}
		resp.Body.Close()
		timer.Stop()
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("download %s: %w", ref, err)
		}
		f.Close()
		return d.download(ctx, ref, part)
	case resp.StatusCode == http.StatusOK:
		// A full response (no or ignored Range): start over.
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("download %s: %w", ref, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("download %s: %w", ref, err)
		}
		have = 0
	default:
		return fmt.Errorf("download %s: %s answered %s", ref, u, resp.Status)
	}
	body := bufio.NewReader(&idleReader{r: resp.Body, t: timer, idle: idle})
	if have == 0 && !wantHTML {
		// A login or error page served as a binary type.
		head, _ := body.Peek(512)
		if looksLikeHTML(head) {
			return fmt.Errorf("download %s: %s answered an HTML page, not the file; check the repository, file and revision", ref, u)
		}
	}
	bar := newBar(d.Progress, d.Terminal, ref.File, have, total)
	_, err = io.Copy(f, io.TeeReader(body, bar))
	bar.done(err)
	if err != nil {
		if c := context.Cause(ctx); c == stall {
			err = c
		}
		return fmt.Errorf("download %s: %w (partial data is kept in %s; run again to resume)", ref, err, part)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("download %s: %w", ref, err)
	}
	return nil
}

// looksLikeHTML reports whether a body starts like an HTML document.
func looksLikeHTML(head []byte) bool {
	h := strings.ToLower(strings.TrimLeft(string(head), " \t\r\n\ufeff"))
	return strings.HasPrefix(h, "<!doctype html") || strings.HasPrefix(h, "<html")
}

// idleReader restarts the stall timer after every read that returns data.
type idleReader struct {
	r    io.Reader
	t    *time.Timer
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.idle)
	}
	return n, err
}

// parseContentRange reads "bytes start-end/size" (size −1 for "*").
func parseContentRange(s string) (start, size int64, ok bool) {
	s, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	size = -1
	if sz != "*" {
		if size, err = strconv.ParseInt(sz, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, size, true
}

// bar is a byte-count progress display: on a terminal one line redrawn at
// most ten times a second ("name  42% 1.2/2.9 MB  3.1 MB/s"); otherwise one
// line at the start and one at the end.
type bar struct {
	w         io.Writer
	term      bool
	name      string
	n, total  int64
	start     time.Time
	lastDraw  time.Time
	startSize int64
}

func newBar(w io.Writer, term bool, name string, have, total int64) *bar {
	b := &bar{w: w, term: term, name: name, n: have, total: total, start: time.Now(), startSize: have}
	if w != nil && !term {
		if have > 0 {
			fmt.Fprintf(w, "downloading %s (resuming at %s)\n", name, mb(have))
		} else {
			fmt.Fprintf(w, "downloading %s (%s)\n", name, mb(total))
		}
	}
	return b
}

func (b *bar) Write(p []byte) (int, error) {
	b.n += int64(len(p))
	if b.w != nil && b.term && time.Since(b.lastDraw) > 100*time.Millisecond {
		b.draw()
	}
	return len(p), nil
}

func (b *bar) draw() {
	b.lastDraw = time.Now()
	pct := ""
	if b.total > 0 {
		pct = fmt.Sprintf("%3.0f%% ", 100*float64(b.n)/float64(b.total))
	}
	rate := float64(b.n-b.startSize) / max(time.Since(b.start).Seconds(), 1e-3)
	fmt.Fprintf(b.w, "\r%s %s%s/%s %s/s\x1b[K", b.name, pct, mb(b.n), mb(b.total), mb(int64(rate)))
}

func (b *bar) done(err error) {
	if b.w == nil {
		return
	}
	if b.term {
		b.draw()
		fmt.Fprintln(b.w)
		return
	}
	if err == nil {
		fmt.Fprintf(b.w, "downloaded %s: %s in %.1fs\n", b.name, mb(b.n), time.Since(b.start).Seconds())
	}
}

func mb(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// errIsNotFound reports whether err is a NotFoundError.
func errIsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}
