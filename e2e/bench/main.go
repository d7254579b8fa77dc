// Command bench measures Berth, driven by the stock docker CLI, side by side
// with containerd's own ctr on the same containerd, in one run, and prints
// the figures and their ratios. It is `make bench`; it asserts nothing.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	runs := flag.Int("runs", 20, "sequential runs per engine")
	parallel := flag.Int("parallel", 40, "runs in the concurrent test")
	concurrency := flag.Int("concurrency", 8, "workers in the concurrent test")
	creates := flag.Int("creates", 500, "containers created for the ps and restart tests")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*runs, *parallel, *concurrency, *creates); err != nil {
		log.Fatalf("bench: %v", err)
	}
}

func run(runs, parallel, concurrency, creates int) error {
	ctx := context.Background()
	docker, err := exec.LookPath("docker")
	if err != nil {
		return fmt.Errorf("the docker CLI is needed: %w", err)
	}
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		return fmt.Errorf("ctr (from Debian's containerd) is needed: %w", err)
	}
	bin, err := filepath.Abs("bin")
	if err != nil {
		return err
	}
	env, err := startEnv(ctx, bin)
	if err != nil {
		return err
	}
	defer env.close()

	fmt.Printf("berthd %s, containerd at %s, image %s\n\n", bin+"/berthd", env.containerdSock, env.image)
	dockerCmd := func(args ...string) *exec.Cmd {
		c := exec.Command(docker, args...)
		c.Env = append(os.Environ(), "DOCKER_HOST=unix://"+env.sock)
		return c
	}
	ctrCmd := func(args ...string) *exec.Cmd {
		return exec.Command(ctr, append([]string{"-a", env.containerdSock, "-n", "bench"}, args...)...)
	}
	if out, err := ctrCmd("images", "pull", "--plain-http", env.image).CombinedOutput(); err != nil {
		return fmt.Errorf("ctr pull: %v: %s", err, out)
	}
	defer ctrCmd("images", "rm", env.image).Run()
	if out, err := dockerCmd("pull", env.image).CombinedOutput(); err != nil {
		return fmt.Errorf("docker pull: %v: %s", err, out)
	}

	// Memory first, at idle: berthd and its plugins, summed PSS.
	pss, procs, err := pssTree(env.pid)
	if err != nil {
		return err
	}

	berthRun := func(i int) error {
		return quiet(dockerCmd("run", "--rm", "--network", "none", env.image, "true"))
	}
	ctrRun := func(i int) error {
		return quiet(ctrCmd("run", "--rm", env.image, fmt.Sprintf("bench-%d-%d", os.Getpid(), i+1), "true"))
	}
	// Warm both paths once.
	if err := berthRun(-1); err != nil {
		return fmt.Errorf("docker run: %w", err)
	}
	if err := ctrRun(-1); err != nil {
		return fmt.Errorf("ctr run: %w", err)
	}

	var bLat, cLat []time.Duration
	for i := 0; i < runs; i++ { // interleaved so drift hits both alike
		d, err := timed(func() error { return berthRun(i) })
		if err != nil {
			return err
		}
		bLat = append(bLat, d)
		d, err = timed(func() error { return ctrRun(i) })
		if err != nil {
			return err
		}
		cLat = append(cLat, d)
	}
	bPar, err := timed(func() error { return pool(parallel, concurrency, berthRun) })
	if err != nil {
		return err
	}
	cPar, err := timed(func() error { return pool(parallel, concurrency, func(i int) error { return ctrRun(1000 + i) }) })
	if err != nil {
		return err
	}

	if err := env.createMany(ctx, creates, concurrency); err != nil {
		return err
	}
	var psLat []time.Duration
	for i := 0; i < 5; i++ {
		d, err := timed(func() error { return quiet(dockerCmd("ps", "-a", "-q")) })
		if err != nil {
			return err
		}
		psLat = append(psLat, d)
	}
	restart, err := env.restart(ctx, creates)
	if err != nil {
		return err
	}

	fmt.Printf("%-58s %12s %12s %8s\n", "measure", "berth", "ctr", "ratio")
	row := func(name string, b, c time.Duration) {
		fmt.Printf("%-58s %12s %12s %7.2fx\n", name, round(b), round(c), float64(b)/float64(c))
	}
	row(fmt.Sprintf("run --rm true, median of %d", runs), median(bLat), median(cLat))
	row(fmt.Sprintf("%d runs at concurrency %d, wall time", parallel, concurrency), bPar, cPar)
	fmt.Printf("%-58s %12s %12s\n", fmt.Sprintf("docker ps -a with %d containers, median of 5", creates), round(median(psLat)), "-")
	fmt.Printf("%-58s %12s %12s\n", fmt.Sprintf("restart until ps -a lists all %d", creates), round(restart), "-")
	fmt.Printf("%-58s %9.1f MB %12s   (%s)\n", "idle memory, berthd + plugins, summed PSS", float64(pss)/1e6, "-", strings.Join(procs, ", "))
	fmt.Println("\ngoals: run ≤ 1.3x ctr; concurrent ≤ 1.3x ctr; restart ≤ 0.3 s; memory ≤ 80 MB")
	return nil
}

func quiet(c *exec.Cmd) error {
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(c.Args, " "), err, out)
	}
	return nil
}

func timed(f func() error) (time.Duration, error) {
	t := time.Now()
	err := f()
	return time.Since(t), err
}

func pool(n, workers int, f func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func round(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}
