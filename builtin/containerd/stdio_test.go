package containerd

import (
	"testing"

	"github.com/berth-dev/berth/sdk/runtime"
)

// TestShimStdio checks the mapping of "not connected" (an empty path) to
// what the runc shim accepts, and that List maps it back.
func TestShimStdio(t *testing.T) {
	cases := []struct {
		name string
		in   runtime.Stdio
		want runtime.Stdio
	}{
		{"nothing connected stays null", runtime.Stdio{}, runtime.Stdio{}},
		{"all connected unchanged",
			runtime.Stdio{Stdin: "/f/in", Stdout: "/f/out", Stderr: "/f/err"},
			runtime.Stdio{Stdin: "/f/in", Stdout: "/f/out", Stderr: "/f/err"}},
		{"stderr not connected",
			runtime.Stdio{Stdout: "/f/out"},
			runtime.Stdio{Stdout: "/f/out", Stderr: devNull}},
		{"stdout not connected",
			runtime.Stdio{Stderr: "/f/err"},
			runtime.Stdio{Stdout: devNull, Stderr: "/f/err"}},
		{"stdin only",
			runtime.Stdio{Stdin: "/f/in"},
			runtime.Stdio{Stdin: "/f/in", Stdout: devNull, Stderr: devNull}},
		{"terminal without stderr unchanged",
			runtime.Stdio{Stdin: "/f/in", Stdout: "/f/out", Terminal: true},
			runtime.Stdio{Stdin: "/f/in", Stdout: "/f/out", Terminal: true}},
		{"terminal without stdout",
			runtime.Stdio{Stdin: "/f/in", Terminal: true},
			runtime.Stdio{Stdin: "/f/in", Stdout: devNull, Terminal: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := shimStdio(c.in)
			if got != c.want {
				t.Fatalf("shimStdio(%+v) = %+v, want %+v", c.in, got, c.want)
			}
			if back := kernelStdio(got); back != c.in {
				t.Errorf("kernelStdio(%+v) = %+v, want %+v", got, back, c.in)
			}
		})
	}
}
