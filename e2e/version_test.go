package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileStampsVersion builds the binary with the -ldflags the
// Dockerfile uses, its build args filled in, and asks it for its version:
// a renamed variable or a dropped -X would leave the image saying "dev".
func TestDockerfileStampsVersion(t *testing.T) {
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`-ldflags="([^"]*)"`).FindSubmatch(df)
	if m == nil {
		t.Fatal("Dockerfile: no -ldflags=\"...\" on its go build line")
	}
	flags := strings.NewReplacer("${VERSION}", "v1.2.3-test", "${COMMIT}", "4f1c2d3e").Replace(string(m[1]))
	bin := filepath.Join(t.TempDir(), "gerritgate")
	if out, err := exec.Command("go", "build", "-ldflags="+flags, "-o", bin, "../cmd/gerritgate").CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags=%q: %v\n%s", flags, err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("gerritgate version: %v", err)
	}
	if got, want := string(out), "gerritgate v1.2.3-test commit 4f1c2d3e\n"; got != want {
		t.Errorf("an image built with VERSION=v1.2.3-test COMMIT=4f1c2d3e says %q, want %q", got, want)
	}
}
