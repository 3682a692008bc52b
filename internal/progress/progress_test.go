package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBarDrawsCountAndETAWhenForced(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, Options{Mode: Always, Total: 10, Description: "pruning", Unit: "blocks", Delay: -1})
	require.NotNil(t, b)
	for i := 1; i <= 10; i++ {
		time.Sleep(time.Millisecond)
		b.Set(i)
	}
	b.Finish()
	out := buf.String()
	require.Contains(t, out, "pruning")
	require.Contains(t, out, "10/10")
	require.Contains(t, out, "blocks")
	require.True(t, strings.HasSuffix(out, "\n"), "finish ends the line: %q", out)
	require.True(t, b.Shown())
}

func TestBarStaysQuiet(t *testing.T) {
	cases := []struct {
		name string
		opt  Options
	}{
		{"auto on a non-terminal", Options{Mode: Auto, Total: 5, Delay: -1}},
		{"never", Options{Mode: Never, Total: 5, Delay: -1}},
		{"zero total", Options{Mode: Always, Total: 0, Delay: -1}},
		{"before the delay", Options{Mode: Always, Total: 5, Delay: time.Hour}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			b := New(&buf, c.opt)
			for i := 1; i <= 5; i++ {
				b.Set(i)
			}
			b.Hook()(5, 5)
			b.Finish()
			require.Empty(t, buf.String())
			require.False(t, b.Shown())
		})
	}
}

func TestNilBarIsSafe(t *testing.T) {
	var b *Bar
	b.Set(1)
	b.Add(1)
	b.Hook()(1, 2)
	b.Finish()
	require.False(t, b.Shown())
}

func TestModeFromFlag(t *testing.T) {
	require.Equal(t, Always, ModeFromFlag(true))
	require.Equal(t, Auto, ModeFromFlag(false))
	require.False(t, Enabled(&bytes.Buffer{}, Auto))
	require.True(t, Enabled(&bytes.Buffer{}, Always))
}
