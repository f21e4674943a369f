package gerrittest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gerritgate/gerritgate/mirror/gerrit/gerrittest"
)

// contractDir holds answers recorded from a real Gerrit 3.13.5 (e2e/gerrit).
const contractDir = "../../../e2e/gerrit/testdata/contract"

// notSimulated are fields of the real answers the simulator leaves out on
// purpose: attention sets, reviewer lists, the caller's permissions, legacy
// submit records, NoteDb ids, and Gerrit's default No-Unresolved-Comments
// requirement (the only one with an applicability expression there).
var notSimulated = []string{
	"[].attention_set", "[].removed_from_attention_set", "[].meta_rev_id",
	"[].permitted_labels", "[].removable_labels", "[].removable_reviewers",
	"[].reviewers", "[].pending_reviewers", "[].submit_records",
	"[].submit_requirements[].applicability_expression_result",
	"[].messages[].author.tags", // SERVICE_USER on accounts in Service Users
}

// shape lists every path of a JSON document with the type found there.
// Objects keyed by data (labels, revisions, ...) are collapsed to "*".
func shape(v any, path string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		out[path+":object"] = true
		dynamic := false
		for _, suffix := range []string{".labels", ".revisions", ".values", ".atom_explanations", ".removed_from_attention_set", ".permitted_labels"} {
			if strings.HasSuffix(path, suffix) {
				dynamic = true
			}
		}
		for k, e := range x {
			if dynamic {
				k = "*"
			}
			shape(e, path+"."+k, out)
		}
	case []any:
		out[path+":array"] = true
		for _, e := range x {
			shape(e, path+"[]", out)
		}
	case string:
		out[path+":string"] = true
	case float64:
		out[path+":number"] = true
	case bool:
		out[path+":bool"] = true
	case nil:
		out[path+":null"] = true
	}
}

func shapeOf(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	out := map[string]bool{}
	shape(v, "", out)
	// A field that only some elements have is still one path; a field some
	// answers lack (an empty list) is not a difference of shape.
	return out
}

func skipped(path string) bool {
	for _, p := range notSimulated {
		if strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+":") || strings.HasPrefix(path, p+"[]") {
			return true
		}
	}
	return false
}

// TestContractShapes builds, in the simulator, the scenario behind each
// recorded change answer, asks the same query, and compares the shapes of
// the two JSON documents.
func TestContractShapes(t *testing.T) {
	if _, err := os.Stat(contractDir); err != nil {
		t.Skip("no contract fixtures")
	}
	const opts = "o=LABELS&o=DETAILED_LABELS&o=SUBMIT_REQUIREMENTS&o=ALL_REVISIONS&o=DETAILED_ACCOUNTS&o=MESSAGES&o=CURRENT_REVISION&o=CURRENT_COMMIT&o=ALL_COMMITS"
	f := newFixture(t)
	carol := f.srv.AddAccount("carol")
	pusher := f.srv.AddAccount("pusher")
	labels := gerrittest.WithLabels(gerrittest.CodeReview(), gerrittest.Verified())
	reqs := gerrittest.WithRequirements(gerrittest.CodeReviewRequirement(), gerrittest.Requirement{
		Name: "Verified", Description: "Needs a Verified+1 and no Verified-1.",
		Submittability: "label:Verified=MAX AND -label:Verified=MIN",
	})
	approvedChange := func(project, subject string) gerrittest.Change {
		f.advance(time.Second)
		c, err := f.srv.CreateChange(gerrittest.ChangeInput{Project: project, Owner: carol, Subject: subject, Files: map[string]string{subject: "x\n"}})
		f.must(err)
		f.must(f.srv.Vote(c.Number, f.alice, "Code-Review", 2))
		f.must(f.srv.Vote(c.Number, f.bob, "Verified", 1))
		return c
	}
	submit := func(c gerrittest.Change) string {
		m, err := f.srv.Submit(c.Number, f.bob)
		f.must(err)
		return m.CurrentRevision
	}

	scenarios := map[string]func() string{}
	for _, st := range []string{gerrittest.FastForwardOnly, gerrittest.MergeIfNecessary, gerrittest.RebaseAlways, gerrittest.CherryPick} {
		f.must(f.srv.CreateProject("platform/"+strings.ToLower(st), st, labels, reqs))
	}
	scenarios["change-fast-forward.json"] = func() string {
		return submit(approvedChange("platform/fast_forward_only", "ff"))
	}
	scenarios["change-merge-if-necessary.json"] = func() string {
		a := approvedChange("platform/merge_if_necessary", "m1")
		b := approvedChange("platform/merge_if_necessary", "m2")
		submit(a)
		submit(b)
		return b.CurrentRevision
	}
	scenarios["change-rebase-always.json"] = func() string {
		a := approvedChange("platform/rebase_always", "r1")
		b := approvedChange("platform/rebase_always", "r2")
		submit(a)
		return submit(b)
	}
	scenarios["change-cherry-pick.json"] = func() string {
		a := approvedChange("platform/cherry_pick", "c1")
		b := approvedChange("platform/cherry_pick", "c2")
		submit(a)
		return submit(b)
	}
	scenarios["change-merged-by-push.json"] = func() string {
		f.advance(time.Second)
		c, err := f.srv.CreateChange(gerrittest.ChangeInput{Project: "platform/merge_if_necessary", Owner: carol, Subject: "pushed"})
		f.must(err)
		f.must(f.srv.Vote(c.Number, f.alice, "Code-Review", 1))
		m, err := f.srv.MergeByPushAmended(c.Number, pusher, nil)
		f.must(err)
		return m.CurrentRevision
	}
	scenarios["change-post-submit-votes.json"] = func() string {
		c := approvedChange("platform/merge_if_necessary", "post")
		sha := submit(c)
		f.must(f.srv.Vote(c.Number, carol, "Code-Review", 2))
		f.must(f.srv.Vote(c.Number, pusher, "Code-Review", 1))
		f.must(f.srv.Review(c.Number, f.svc, gerrittest.ReviewInput{Message: "deployed to prod", Tag: "autogenerated:gerritgate:deploy"}))
		return sha
	}

	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(contractDir, name))
			if os.IsNotExist(err) {
				t.Skip("fixture absent")
			}
			f.must(err)
			sha := scenarios[name]()
			got := rawGet(t, f.srv.URL()+"/a/changes/?q="+url.QueryEscape("commit:"+sha)+"&"+opts)
			ws, gs := shapeOf(t, want), shapeOf(t, got)
			var missing, extra []string
			for p := range ws {
				if !gs[p] && !skipped(p) {
					missing = append(missing, p)
				}
			}
			for p := range gs {
				if !ws[p] {
					extra = append(extra, p)
				}
			}
			sort.Strings(missing)
			sort.Strings(extra)
			if len(missing) > 0 {
				t.Errorf("simulator lacks:\n  %s", strings.Join(missing, "\n  "))
			}
			if len(extra) > 0 {
				t.Errorf("simulator invents:\n  %s", strings.Join(extra, "\n  "))
			}
			if name == "change-post-submit-votes.json" {
				return // the recorded scenario has more voters
			}
			if w, g := summary(t, want), summary(t, got); w != g {
				t.Errorf("messages and patch sets differ:\nreal: %s\nsim:  %s", w, g)
			}
		})
	}
}

// rawGet fetches a REST answer as the service account, strips )]}' and
// fails on anything else.
func rawGet(t *testing.T, u string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.SetBasicAuth("gerritgate", "secret-pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	body, ok := strings.CutPrefix(string(b), ")]}'\n")
	if !ok {
		t.Fatalf("no magic prefix: %q", fmt.Sprint(string(b[:min(len(b), 20)])))
	}
	return []byte(body)
}

var hexRun = regexp.MustCompile(`[0-9a-f]{40}`)

// summary is the messages (text, tag, patch set) and patch sets (number,
// kind, description, uploader is owner) of a one-change answer, SHAs
// replaced.
func summary(t *testing.T, b []byte) string {
	t.Helper()
	var infos []struct {
		Owner struct {
			ID int `json:"_account_id"`
		} `json:"owner"`
		Submitter struct {
			ID int `json:"_account_id"`
		} `json:"submitter"`
		Messages []struct {
			Message string `json:"message"`
			Tag     string `json:"tag"`
			PS      int    `json:"_revision_number"`
		} `json:"messages"`
		Revisions map[string]struct {
			Number      int    `json:"_number"`
			Kind        string `json:"kind"`
			Description string `json:"description"`
			Uploader    struct {
				ID int `json:"_account_id"`
			} `json:"uploader"`
		} `json:"revisions"`
	}
	if err := json.Unmarshal(b, &infos); err != nil || len(infos) != 1 {
		t.Fatalf("want one change: %v", err)
	}
	ci := infos[0]
	var parts []string
	for _, m := range ci.Messages {
		parts = append(parts, fmt.Sprintf("%q/%s/%d", hexRun.ReplaceAllString(m.Message, "<sha>"), m.Tag, m.PS))
	}
	revs := make([]string, 0, len(ci.Revisions))
	for _, r := range ci.Revisions {
		who := "other"
		switch r.Uploader.ID {
		case ci.Owner.ID:
			who = "owner"
		case ci.Submitter.ID:
			who = "submitter"
		}
		revs = append(revs, fmt.Sprintf("%d:%s:%s:%s", r.Number, r.Kind, r.Description, who))
	}
	sort.Strings(revs)
	return strings.Join(parts, " ") + " | " + strings.Join(revs, " ")
}
