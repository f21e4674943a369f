//go:build realgerrit

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Scenario 6, continued: Gerrit goes away while the gate polls. Nothing
// moves while it is down (and the gate keeps serving what it had), and
// once Gerrit is back the gate carries on by itself, with no restart of
// its own. The daemon is stopped with SIGTERM and started again with the
// very same command line, environment, working directory and site, as
// start.sh left it; that takes Gerrit's start-up time (10-30 s here).
func TestRealGerritRestart(t *testing.T) {
	r := newRealGerrit(t)
	d := r.daemon()
	p := r.createProject("MERGE_IF_NECESSARY")
	r.setCodeReviewRequirement(p, "label:Code-Review>=1 AND -label:Code-Review=MIN")
	w := r.workspace(p)
	base := r.tip(p)
	g := startRealGate(t, r, p, "upstream", "")
	g.waitDeployed(p, "prod", base)
	a := w.mergeApproved(base, "A: add podinfo")
	g.waitDeployed(p, "prod", a)

	// C is merged short of the policy (Code-Review +1): the gate waits.
	c := w.upload(a, "C: merged with +1, approved while Gerrit restarts")
	r.mustVote(alice, c, map[string]int{"Code-Review": 1})
	r.mustVote(bob, c, map[string]int{"Verified": 1})
	r.submit(c)
	stays(t, g, p, a, c.sha)

	d.stop(t)
	t.Cleanup(func() {
		if !d.running() {
			d.start(t) // leave a server for the tests after this one
		}
	})
	st := stays(t, g, p, a, "")
	if st.Reason != "Failed" {
		t.Errorf("status while Gerrit is down = %+v, want reason Failed", st)
	}
	if strings.Contains(st.Message, r.env["GERRIT_GATE_PASSWORD"]) {
		t.Errorf("status message shows the gate's password: %q", st.Message)
	}
	if got, _, err := fluxClone(t, g.url+"/"+p+".git", "deploy/prod", "", nil); err != nil || got != a {
		t.Errorf("flux clone while Gerrit is down = %s, %v; want %s", got, err, a)
	}

	d.start(t)
	// The approval the gate was waiting for, cast after the restart.
	r.mustVote(bob, c, map[string]int{"Code-Review": 2})
	g.waitDeployed(p, "prod", c.sha)
	e := w.mergeApproved(c.sha, "E: after the restart")
	g.waitDeployed(p, "prod", e)
}

// gerritDaemon is the Gerrit process start.sh started, and how to start
// it again.
type gerritDaemon struct {
	r    *realGerrit
	pid  int
	site string
	argv []string
	env  []string
	cwd  string
}

// daemon finds the running daemon of the env file's site; it skips the
// test when the server was not started by start.sh on this machine.
func (r *realGerrit) daemon() *gerritDaemon {
	r.t.Helper()
	pid, err := strconv.Atoi(r.env["GERRIT_PID"])
	site := r.env["GERRIT_SITE"]
	if err != nil || site == "" {
		r.t.Skipf("env file has no GERRIT_PID/GERRIT_SITE: Gerrit was not started by e2e/gerrit/start.sh, cannot restart it")
	}
	d := &gerritDaemon{r: r, pid: pid, site: site}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	d.argv = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if err != nil || !strings.Contains(strings.Join(d.argv, " "), "daemon -d "+site) {
		r.t.Skipf("pid %d is not the Gerrit daemon of %s (cannot restart it): %v", pid, site, err)
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		r.t.Fatal(err)
	}
	d.env = strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00")
	if d.cwd, err = os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil {
		r.t.Fatal(err)
	}
	return d
}

// running reports whether the process is alive (a zombie is not).
func (d *gerritDaemon) running() bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// stop sends SIGTERM and waits up to 60 s, then SIGKILLs.
func (d *gerritDaemon) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	syscall.Kill(d.pid, syscall.SIGTERM)
	for d.running() && time.Since(start) < 60*time.Second {
		time.Sleep(200 * time.Millisecond)
	}
	if d.running() {
		syscall.Kill(d.pid, syscall.SIGKILL)
		time.Sleep(time.Second)
	}
	if d.running() {
		t.Fatalf("Gerrit pid %d still running after SIGKILL", d.pid)
	}
	t.Logf("Gerrit pid %d stopped in %s", d.pid, time.Since(start).Round(100*time.Millisecond))
}

// start runs the daemon again, in a session of its own so that it outlives
// the test like it outlived start.sh, waits until it answers (180 s at
// most), and writes the new pid into the env files so that stop.sh stops
// it.
func (d *gerritDaemon) start(t *testing.T) {
	t.Helper()
	start := time.Now()
	logf, err := os.OpenFile(filepath.Join(d.site, "daemon.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(d.argv[0], d.argv[1:]...)
	cmd.Env, cmd.Dir = d.env, d.cwd
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("restart Gerrit: %v", err)
	}
	old := d.pid
	d.pid = cmd.Process.Pid
	cmd.Process.Release()
	d.rewritePID(t, old)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(d.r.url + "/config/server/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if !d.running() {
			t.Fatalf("restarted Gerrit (pid %d) exited; see %s/daemon.log", d.pid, d.site)
		}
		if time.Since(start) > 180*time.Second {
			t.Fatalf("restarted Gerrit (pid %d) did not answer within 180s; see %s/daemon.log", d.pid, d.site)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("Gerrit restarted as pid %d, answering after %s", d.pid, time.Since(start).Round(100*time.Millisecond))
}

// rewritePID replaces GERRIT_PID in the env files that name this site: the
// one the suite was given, the site's own, and start.sh's state file.
func (d *gerritDaemon) rewritePID(t *testing.T, old int) {
	t.Helper()
	tmp := os.Getenv("TMPDIR")
	if tmp == "" {
		tmp = "/tmp"
	}
	files := map[string]bool{
		os.Getenv(gerritEnvVar):                 true,
		filepath.Join(d.site, "gerritgate.env"): true,
		filepath.Join(tmp, "gerritgate-gerrit-"+d.r.env["GERRIT_HTTP_PORT"]+".env"): true,
	}
	from := fmt.Sprintf("export GERRIT_PID='%d'\n", old)
	to := fmt.Sprintf("export GERRIT_PID='%d'\n", d.pid)
	for f := range files {
		data, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(data), "GERRIT_SITE='"+d.site+"'") {
			continue
		}
		if err := os.WriteFile(f, []byte(strings.ReplaceAll(string(data), from, to)), 0o644); err != nil {
			t.Errorf("write new Gerrit pid into %s: %v", f, err)
		}
	}
}
