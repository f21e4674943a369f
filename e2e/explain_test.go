package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// explain, its JSON, one commit, a policy preview, and the pending API all
// say why a commit is not deployed.
func TestExplain(t *testing.T) {
	sim := newSim(t, "MERGE_IF_NECESSARY")
	g := startGate(t, sim.setup(reviewedPolicy))
	a := sim.mergeApproved("A")
	_, c := sim.mergeUnapproved("C: only +1")
	d := sim.mergeApproved("D")
	g.waitDeployed(project, "prod", a)
	g.settle()
	cfg := filepath.Join(g.dir, "gerritgate.yaml")
	explain := func(args ...string) (string, error) {
		out, err := exec.Command(binary, append([]string{"explain", "--config", cfg, "--project", project, "--env", "prod"}, args...)...).CombinedOutput()
		return string(out), err
	}

	out, err := explain()
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	for _, want := range []string{"NotApproved", "NOT APPROVED " + c[:12], "FAIL label Code-Review:", "bob +1", "approved     " + d[:12], "pass label Verified:", "carol"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}

	out, err = explain("--json", "--commit", c[:10])
	if err != nil {
		t.Fatalf("explain --json --commit: %v\n%s", err, out)
	}
	var res envStatus
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("explain --json: %v\n%s", err, out)
	}
	if res.Decision == nil || len(res.Decision.Verdicts) != 1 || res.Decision.Verdicts[0].SHA != c || res.Decision.Verdicts[0].Approved {
		t.Errorf("explain --commit C = %+v", res.Decision)
	}

	if out, err := explain("--commit", "0123456789abcdef"); err == nil {
		t.Errorf("explain of a commit not in range succeeded:\n%s", out)
	}

	relaxed := strings.Replace(reviewedPolicy, "Code-Review: {min: 2}", "Code-Review: {min: 1}", 1)
	pfile := filepath.Join(t.TempDir(), "relaxed.yaml")
	os.WriteFile(pfile, []byte(relaxed), 0o644)
	out, err = explain("--policy", pfile)
	if err != nil || !strings.Contains(out, "Deployable") {
		t.Errorf("explain --policy relaxed: %v\n%s", err, out)
	}
	// The dry run says what the edit changes: C turns, A and D keep theirs.
	if want := c[:12] + ` "C: only +1": NOT APPROVED -> approved`; !strings.Contains(out, want) || strings.Contains(out, d[:12]+` "D": `) || !strings.Contains(out, "commits keep their verdict") {
		t.Errorf("explain --policy relaxed does not say the edit turns only C (%q):\n%s", want, out)
	}
	if got := g.deployed(project, "prod"); got != a {
		t.Errorf("explain moved deploy/prod to %s", got)
	}

	resp, err := http.Get(g.url + "/api/v1/projects/" + url.PathEscape(project) + "/environments/prod/pending")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pending envStatus
	json.NewDecoder(resp.Body).Decode(&pending)
	if resp.StatusCode != 200 || pending.Decision == nil || pending.Decision.BlockedAt != c {
		t.Errorf("pending API = %d %+v", resp.StatusCode, pending)
	}
}
