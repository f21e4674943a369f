//go:build realgerrit

package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/gerritgate/gerritgate/mirror/gerrit"
)

// Acceptance 3 on a real Gerrit: each change gets exactly one deploy
// message per environment across a kill -9 of the gate while it posts,
// and the gate's account needs nothing but read access for that: its
// groups are blocked from every vote but 0 on the project's labels, and
// it still posts.
func TestRealGerritDeployMessagesOnce(t *testing.T) {
	r := newRealGerrit(t)
	p := r.createProject("MERGE_IF_NECESSARY")
	var groups []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	r.must(admin, http.MethodGet, "/accounts/"+gateU+"/groups", nil, &groups)
	block := map[string]any{}
	for _, g := range groups {
		if g.Name != "Registered Users" && g.Name != "Anonymous Users" {
			// A label BLOCK's range is what stays allowed: 0..0 blocks
			// every vote but 0 (-2..+2 would block nothing).
			block[g.ID] = map[string]any{"action": "BLOCK", "min": 0, "max": 0}
		}
	}
	if len(block) == 0 {
		t.Fatalf("the gate account is in no group of its own: %+v", groups)
	}
	r.must(admin, http.MethodPost, "/projects/"+url.PathEscape(p)+"/access", map[string]any{
		"add": map[string]any{"refs/heads/*": map[string]any{"permissions": map[string]any{
			"label-Code-Review": map[string]any{"label": "Code-Review", "rules": block},
			"label-Verified":    map[string]any{"label": "Verified", "rules": block},
		}}},
	}, nil)
	w := r.workspace(p)
	base := r.tip(p)
	probe := w.upload(base, "probe: the gate cannot vote here")
	if err := r.vote(gateU, probe, map[string]int{"Code-Review": 1}); err == nil {
		t.Fatalf("the gate voted Code-Review +1 on %s: the label block is not in force", p)
	}

	// The gate talks REST to Gerrit through a proxy that holds its third
	// review post; it fetches git straight from Gerrit.
	stall := newPostStall(3)
	target, _ := url.Parse(r.url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		stall.hook(req)
		proxy.ServeHTTP(w, req)
	}))
	defer ps.Close()
	g := startGate(t, gateSetup{
		gerritURL: ps.URL, gitURL: r.url, username: r.env["GERRIT_GATE_USER"], password: r.env["GERRIT_GATE_PASSWORD"],
		policy: twoEnvPolicyFor(p, ""),
	})
	g.waitDeployed(p, "prod", base)
	g.waitDeployed(p, "staging", base)

	var changes []int
	head := base
	for _, s := range []string{"A", "B", "C"} {
		c := w.upload(head, s)
		r.approve(c)
		head = r.submit(c)
		changes = append(changes, c.number)
	}
	killWhilePosting(t, g, stall, p, head)
	cl, err := gerrit.New(r.url, gerrit.WithBasicAuth(r.env["GERRIT_GATE_USER"], r.env["GERRIT_GATE_PASSWORD"]))
	if err != nil {
		t.Fatal(err)
	}
	checkDeployMessages(t, g, cl, p, changes)
}
