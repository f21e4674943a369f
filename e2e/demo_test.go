package e2e

import (
	"bufio"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gogitrepo "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gerritgate/gerritgate/audit"
)

// `gerritgate demo` works for a new user with access control on: it shows
// staging and prod, prod after staging with a soak (issue 12, done-means
// 4): staging takes the first approved change at once, prod is held while
// it soaks and then advances to it, no sooner than the soak after staging
// (the times of their audit records); the clone commands it prints work
// over HTTP and SSH, and prod has the approved change while the vetoed one
// stops staging; the verify command it prints rechecks every record of the
// trail (issue 11, done-means 5), and a record whose evidence lost a
// counted vote, signed again with the service's key, is reported.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	await, _ := startDemo(t, dir, freeAddr(t))
	await(regexp.MustCompile(`environments: +deploy/staging takes each approved commit at once; deploy/prod comes after staging$`))
	soak, err := time.ParseDuration(await(regexp.MustCompile(`^ +with a soak of (\S+):`))[1])
	if err != nil || soak <= 0 {
		t.Fatalf("the demo states no soak: %v", err)
	}
	httpClone := await(regexp.MustCompile(`over HTTP:  (.*)`))[1]
	sshClone := await(regexp.MustCompile(`over SSH:   (.*)`))[1]
	// prod starts once staging has held Gerrit's initial commit for the
	// soak; then staging takes "Add podinfo" at once, and prod is held
	// while it soaks and then advances to it.
	held := regexp.MustCompile(`^platform/fleet main -> deploy/prod \(policy reviewed\): Held: .* ([0-9a-f]{12}) soaks on deploy/staging; until \S+`)
	waits := regexp.MustCompile(`^  deploy/prod waits until \d\d:\d\d:\d\d UTC \(in \d+s\)$`)
	initial := await(held)[1]
	await(waits)
	await(regexp.MustCompile(`deploy/prod \(policy reviewed\): Initialized: created deploy/prod at ` + initial))
	podinfo := await(regexp.MustCompile(`deploy/staging \(policy reviewed\): Advanced: advanced deploy/staging from ` + initial + ` to ([0-9a-f]{12})$`))[1]
	await(regexp.MustCompile(`approved +` + podinfo + ` "Add podinfo"`))
	if got := await(held)[1]; got != podinfo {
		t.Errorf("prod is held while %s soaks, want %s (Add podinfo)", got, podinfo)
	}
	await(waits)
	await(regexp.MustCompile(`deploy/prod \(policy reviewed\): Advanced: advanced deploy/prod from ` + initial + ` to ` + podinfo + `$`))
	await(regexp.MustCompile(`deploy/staging \(policy reviewed\): NotApproved: ([0-9a-f]{12}) "Raise replicas" is not approved: vetoed`))
	for name, c := range map[string]string{"http": httpClone, "ssh": sshClone} {
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

	verify := await(regexp.MustCompile(`  gerritgate verify (.*)`))[1]
	res, err := exec.Command("bash", "-c", binary+" verify "+verify).CombinedOutput()
	if err != nil || !strings.Contains(string(res), "rechecked") {
		t.Fatalf("the demo's verify command %q: %v\n%s", verify, err, res)
	}
	for _, l := range strings.Split(string(res), "\n") {
		if strings.Contains(l, " advance ") && !strings.HasSuffix(l, "rechecked") {
			t.Errorf("an advance was not rechecked: %s", l)
		}
	}

	// Drop the counted votes from the last advance's evidence and sign it
	// again with the demo's own key: signatures hold, recheck does not.
	clone := filepath.Join(t.TempDir(), "tampered")
	if out, err := git(t, "", "clone", "-q", "--mirror", strings.Fields(verify)[0], clone); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}

	// prod took "Add podinfo" no sooner than the soak after staging did.
	staged, deployed := recordTo(t, clone, "staging", podinfo), recordTo(t, clone, "prod", podinfo)
	if staged == nil || deployed == nil {
		t.Fatalf("no audit record of staging (%v) or prod (%v) moving to %s", staged != nil, deployed != nil, podinfo)
	}
	if d := deployed.Time.Sub(staged.Time); d < soak {
		t.Errorf("staging took %s at %s, prod %s later: want at least the soak, %s", podinfo, staged.Time, d, soak)
	}
	r, err := gogitrepo.PlainOpen(clone)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.Reference(plumbing.ReferenceName(audit.Ref("prod")), true)
	if err != nil {
		t.Fatal(err)
	}
	last, _ := r.CommitObject(ref.Hash())
	rec := readRecord(t, last)
	if rec.Kind != audit.Advance {
		t.Fatalf("the demo's last record is a %s", rec.Kind)
	}
	for sha, changes := range rec.Evidence.Changes {
		for i := range changes {
			rec.Evidence.Changes[sha][i].Labels["Code-Review"] = nil
		}
	}
	key, err := audit.LoadSigner(filepath.Join(dir, "gate-key.asc"))
	if err != nil {
		t.Fatal(err)
	}
	forged := rewrite(t, r, rec, last.ParentHashes[0], key)
	if out, err := git(t, "", "--git-dir", clone, "update-ref", audit.Ref("prod"), forged.String()); err != nil {
		t.Fatal(out)
	}
	args := strings.Fields(verify)
	args[0] = clone
	res, err = exec.Command(binary, append([]string{"verify"}, args...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(res), "recheck: the recorded evidence does not support") {
		t.Errorf("verify --recheck of a record without its counted vote: err=%v\n%s", err, res)
	}
}

// recordTo returns the record of audit/<env> in the repository dir that
// moved deploy/<env> to the commit sha starts; nil when none did.
func recordTo(t *testing.T, dir, env, sha string) *audit.Record {
	t.Helper()
	out, err := git(t, dir, "log", "--format=%H", audit.Ref(env))
	if err != nil {
		t.Fatalf("reading audit/%s: %v\n%s", env, err, out)
	}
	for _, c := range strings.Fields(out) {
		if rec := readRecordAt(t, dir, c); strings.HasPrefix(rec.To, sha) {
			return rec
		}
	}
	return nil
}

// demo --dir on the folder of an earlier demo starts over (its simulated
// Gerrit is new, so the old mirror would be Diverged) and says so.
func TestDemoDirTwice(t *testing.T) {
	dir := t.TempDir()
	podinfo := regexp.MustCompile(`approved +[0-9a-f]{12} "Add podinfo"`)
	await, stop := startDemo(t, dir, freeAddr(t))
	await(podinfo)
	stop()

	await, _ = startDemo(t, dir, freeAddr(t))
	saidSo := false
	for {
		m := await(regexp.MustCompile(`^starting over: removed .*data|Diverged|` + podinfo.String()))
		if strings.Contains(m[0], "Diverged") {
			t.Fatalf("the second demo in the same folder diverged: %s", m[0])
		}
		if strings.HasPrefix(m[0], "starting over") {
			saidSo = true
			continue
		}
		break
	}
	if !saidSo {
		t.Errorf("the second demo did not say it removed the earlier one's data")
	}
}

// demo --dir refuses a folder that is not empty and is not a demo's (no
// gerritgate.yaml starting with the demo's marker), naming the folder and
// what to do, and leaves every file in it as it was: the demo would
// otherwise overwrite its config and keys, or remove its data.
func TestDemoDirRefusesForeignFolder(t *testing.T) {
	useBinary(t)
	for _, tt := range []struct {
		name  string
		files map[string]string
		why   string
	}{
		{"data of something else", map[string]string{"data/upstream/x": "x\n"}, "it has no gerritgate.yaml"},
		{"some files", map[string]string{"notes.txt": "mine\n", "secrets/key": "k\n"}, "it has no gerritgate.yaml"},
		{"a real service's config", map[string]string{"gerritgate.yaml": "dataDir: ./data\npolicy: ./policy.yaml\n", "policy.yaml": "mine\n"},
			"its gerritgate.yaml does not start with the demo's first line"},
		{"the marker not first", map[string]string{"gerritgate.yaml": "dataDir: ./data\n# Written by gerritgate demo.\n", "data/x": "x\n"},
			"its gerritgate.yaml does not start with the demo's first line"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700)
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(binary, "demo", "--dir", dir, "--listen", freeAddr(t), "--ssh-listen", freeAddr(t))
			cmd.WaitDelay = 5 * time.Second
			timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() }) // a demo that runs does not exit by itself
			out, err := cmd.CombinedOutput()
			timer.Stop()
			if err == nil || !strings.Contains(string(out), "--dir "+dir+" is not empty and not written by gerritgate demo ("+tt.why) ||
				!strings.Contains(string(out), "give an empty or new --dir") {
				t.Errorf("demo --dir on a folder with %s: %v, want it refused naming the folder and why (%s):\n%s", tt.name, err, tt.why, out)
			}
			got := map[string]string{}
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					b, _ := os.ReadFile(p)
					rel, _ := filepath.Rel(dir, p)
					got[filepath.ToSlash(rel)] = string(b)
				}
				return nil
			})
			if !maps.Equal(got, tt.files) {
				t.Errorf("demo changed the folder it refused: now %q, was %q", got, tt.files)
			}
		})
	}
}

// startDemo runs gerritgate demo --dir dir on listen until the test ends
// (or stop) and returns a function that waits (60s at most) for a line of
// its output matching re, returning the submatches.
func startDemo(t *testing.T, dir, listen string) (await func(re *regexp.Regexp) []string, stop func()) {
	t.Helper()
	useBinary(t)
	cmd := exec.Command(binary, "demo", "--dir", dir, "--listen", listen, "--ssh-listen", freeAddr(t))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGINT)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("demo did not exit cleanly on SIGINT: %v", err)
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Errorf("demo ignored SIGINT")
			}
		})
	}
	t.Cleanup(stop)
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out strings.Builder
	return func(re *regexp.Regexp) []string {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("demo exited early:\n%s", out.String())
				}
				out.WriteString(l + "\n")
				if m := re.FindStringSubmatch(l); m != nil {
					return m
				}
			case <-deadline:
				t.Fatalf("demo did not print %s within 60s:\n%s", re, out.String())
			}
		}
	}, stop
}
