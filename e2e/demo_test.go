package e2e

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `gerritgate demo` works for a new user with access control on: the clone
// commands it prints work over HTTP and SSH, and the story's first approved
// change is deployed while the vetoed one is not.
func TestDemo(t *testing.T) {
	useBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(binary, "demo", "--dir", dir, "--listen", freeAddr(t), "--ssh-listen", freeAddr(t))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo did not exit cleanly on SIGINT: %v", err)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("demo ignored SIGINT")
		}
	}()

	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var httpClone, sshClone string
	var out strings.Builder
	vetoed := regexp.MustCompile(`NotApproved: ([0-9a-f]{12}) "Raise replicas" is not approved: vetoed`)
	var vetoedSHA string
	deadline := time.After(60 * time.Second)
	for vetoedSHA == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo exited early:\n%s", out.String())
			}
			out.WriteString(l + "\n")
			if _, c, ok := strings.Cut(l, "over HTTP:  "); ok {
				httpClone = c
			}
			if _, c, ok := strings.Cut(l, "over SSH:   "); ok {
				sshClone = c
			}
			if m := vetoed.FindStringSubmatch(l); m != nil {
				vetoedSHA = m[1]
			}
		case <-deadline:
			t.Fatalf("demo did not show the vetoed change within 60s:\n%s", out.String())
		}
	}
	for name, c := range map[string]string{"http": httpClone, "ssh": sshClone} {
		if c == "" {
			t.Fatalf("demo printed no %s clone command:\n%s", name, out.String())
		}
		target := filepath.Join(t.TempDir(), name)
		res, err := exec.Command("bash", "-c", c+" "+target).CombinedOutput()
		if err != nil {
			t.Fatalf("%s clone command %q failed: %v\n%s", name, c, err, res)
		}
		log, _ := git(t, target, "log", "--format=%s")
		if !strings.Contains(log, "Add podinfo") || strings.Contains(log, "Raise replicas") {
			t.Errorf("%s clone has history %q, want Add podinfo and not the vetoed change", name, log)
		}
	}
}
