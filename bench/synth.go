package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/gerritgate/gerritgate/internal/gitexec"
)

// generatorVersion names the synthetic repository's content: change it
// whenever the generator would write other bytes, and every cache built by
// an earlier version is built again.
const generatorVersion = 1

// synthClusters are the clusters of the GitOps layout; each holds the same
// number of apps, each app synthFilesPerApp files.
var synthClusters = []string{"dev", "staging", "prod-eu", "prod-us"}

var synthAppFiles = []string{"kustomization.yaml", "deployment.yaml", "service.yaml", "configmap.yaml", "hpa.yaml"}

// synthRepo is a built synthetic repository: a bare repository whose main
// holds commits commits touching files files.
type synthRepo struct {
	Dir   string
	Tip   string
	Files int
	Count int // commits
}

// packedMiB is the size of the repository's packs.
func (r *synthRepo) packedMiB() float64 {
	packs, _ := filepath.Glob(filepath.Join(r.Dir, "objects", "pack", "*.pack"))
	var n int64
	for _, p := range packs {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return float64(n) / (1 << 20)
}

// synthesize returns the synthetic repository of files files and commits
// commits, built with git fast-import under cache unless a complete one
// of this generator version is there already.
func synthesize(ctx context.Context, cache string, files, commits int) (*synthRepo, error) {
	if files < len(synthClusters)*len(synthAppFiles) || commits < 1 {
		return nil, fmt.Errorf("synthetic repository: need at least %d files and 1 commit, got %d files and %d commits", len(synthClusters)*len(synthAppFiles), files, commits)
	}
	name := fmt.Sprintf("synth-v%d-%df-%dc.git", generatorVersion, files, commits)
	dir := filepath.Join(cache, name)
	stamp := filepath.Join(dir, "bench-complete")
	if b, err := os.ReadFile(stamp); err == nil {
		return &synthRepo{Dir: dir, Tip: strings.TrimSpace(string(b)), Files: files, Count: commits}, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(cache, name+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if out, err := gitexec.Command(ctx, tmp, "init", "--quiet", "--bare").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("git init %s: %v: %s", tmp, err, out)
	}
	imp := gitexec.Command(ctx, tmp, "fast-import", "--quiet", "--done")
	in, err := imp.StdinPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	imp.Stderr = &stderr
	if err := imp.Start(); err != nil {
		return nil, err
	}
	werr := writeSynthStream(in, files, commits)
	in.Close()
	if err := imp.Wait(); err != nil || werr != nil {
		return nil, fmt.Errorf("git fast-import: %v %v: %s", err, werr, stderr.String())
	}
	tip, err := gitexec.Command(ctx, tmp, "rev-parse", "refs/heads/main").Output()
	if err != nil {
		return nil, fmt.Errorf("rev-parse main of the synthetic repository: %v", err)
	}
	if out, err := gitexec.Command(ctx, tmp, "symbolic-ref", "HEAD", "refs/heads/main").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("symbolic-ref: %v: %s", err, out)
	}
	sha := strings.TrimSpace(string(tip))
	if err := os.WriteFile(filepath.Join(tmp, "bench-complete"), []byte(sha+"\n"), 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(dir) // an incomplete one, from an interrupted run
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return &synthRepo{Dir: dir, Tip: sha, Files: files, Count: commits}, nil
}

// writeSynthStream writes the fast-import stream: a first commit adding
// every app of every cluster, then commits that each bump one app's image
// and config, as a platform team's merges do. Everything, dates included,
// comes from a fixed seed, so the same version writes the same commits.
func writeSynthStream(w io.Writer, files, commits int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	rng := rand.New(rand.NewPCG(14, uint64(generatorVersion)))
	perCluster := files / len(synthClusters)
	apps := perCluster / len(synthAppFiles)
	extra := files - apps*len(synthAppFiles)*len(synthClusters) // into clusters/<c>/README-<i>.md
	const t0 = 1767225600                                       // 2026-01-01T00:00:00Z
	commit := func(i int, msg string) {
		ts := t0 + int64(i)*600
		fmt.Fprintf(bw, "commit refs/heads/main\nauthor Alice <alice@example.com> %d +0000\ncommitter Gerrit Code Review <gerrit@example.com> %d +0000\ndata %d\n%s\n", ts, ts, len(msg)+1, msg)
	}
	file := func(path, content string) {
		fmt.Fprintf(bw, "M 100644 inline %s\ndata %d\n%s\n", path, len(content), content)
	}
	appPath := func(c, a int, f string) string {
		return fmt.Sprintf("clusters/%s/apps/app-%04d/%s", synthClusters[c], a, f)
	}
	commit(0, "Add the fleet")
	for c := range synthClusters {
		for a := range apps {
			for _, f := range synthAppFiles {
				file(appPath(c, a, f), appFile(rng, synthClusters[c], a, f, 0))
			}
		}
	}
	for i := range extra {
		file(fmt.Sprintf("clusters/%s/README-%d.md", synthClusters[i%len(synthClusters)], i), fmt.Sprintf("# Notes %d\n\n%s\n", i, hexLine(rng, 60)))
	}
	for i := 1; i < commits; i++ {
		c, a := rng.IntN(len(synthClusters)), rng.IntN(apps)
		commit(i, fmt.Sprintf("Bump app-%04d in %s to v1.%d.%d", a, synthClusters[c], i/100, i%100))
		file(appPath(c, a, "deployment.yaml"), appFile(rng, synthClusters[c], a, "deployment.yaml", i))
		file(appPath(c, a, "configmap.yaml"), appFile(rng, synthClusters[c], a, "configmap.yaml", i))
	}
	fmt.Fprintf(bw, "done\n")
	return bw.Flush()
}

// appFile is one YAML file of an app, about 2 KiB, at version v.
func appFile(rng *rand.Rand, cluster string, app int, name string, v int) string {
	var b strings.Builder
	id := fmt.Sprintf("app-%04d", app)
	switch name {
	case "kustomization.yaml":
		fmt.Fprintf(&b, "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources:\n", id)
		for _, f := range synthAppFiles[1:] {
			fmt.Fprintf(&b, "  - %s\n", f)
		}
		fmt.Fprintf(&b, "commonLabels:\n  app.kubernetes.io/name: %s\n  cluster: %s\n", id, cluster)
	case "deployment.yaml":
		fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  replicas: %d\n  template:\n    spec:\n      containers:\n        - name: %s\n          image: registry.example.com/%s:v1.%d.%d@sha256:%s\n", id, 1+rng.IntN(5), id, id, v/100, v%100, hexLine(rng, 32))
		for j := range 12 {
			fmt.Fprintf(&b, "          # env %d\n          - name: SETTING_%d\n            value: %q\n", j, j, hexLine(rng, 24))
		}
	case "service.yaml":
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  selector:\n    app.kubernetes.io/name: %s\n  ports:\n    - port: %d\n", id, id, 8000+rng.IntN(1000))
	case "configmap.yaml":
		fmt.Fprintf(&b, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s-config\ndata:\n", id)
		for j := range 24 {
			fmt.Fprintf(&b, "  key%02d: %s\n", j, hexLine(rng, 32))
		}
	case "hpa.yaml":
		fmt.Fprintf(&b, "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: %s\nspec:\n  minReplicas: 1\n  maxReplicas: %d\n", id, 2+rng.IntN(20))
	}
	return b.String()
}

// hexLine is n random bytes in hex: content that compresses as real
// digests and secrets' hashes do.
func hexLine(rng *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 2*n)
	for i := range b {
		b[i] = digits[rng.IntN(16)]
	}
	return string(b)
}
