package gerrit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// contractDir holds answers recorded from a real Gerrit (e2e/gerrit).
const contractDir = "../../e2e/gerrit/testdata/contract"

func readContract(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(contractDir, name))
	if os.IsNotExist(err) {
		t.Skipf("no contract fixture %s", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestContractChangesDecode feeds every recorded change query answer
// through the client's conversion: what a real Gerrit 3.13 sends must
// decode and convert without loss of what the gate reads.
func TestContractChangesDecode(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(contractDir, "change-*.json"))
	if len(files) == 0 {
		t.Skip("no contract fixtures")
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			var infos []ChangeInfo
			if err := json.Unmarshal(readContract(t, name), &infos); err != nil {
				t.Fatalf("decode: %v", err)
			}
			for _, ci := range infos {
				ch, err := ci.GateChange()
				if err != nil {
					t.Fatalf("GateChange: %v", err)
				}
				if ch.Status != StatusMerged || ch.Submitted.IsZero() || ch.Submitter.ID == 0 || ch.Submitter.Username == "" {
					t.Errorf("merged change without submit data: %+v", ch)
				}
				cur, ok := ch.Revisions[ch.CurrentRevision]
				if !ok || cur.Number != len(ch.Revisions) || cur.Uploader.ID == 0 || cur.Created.IsZero() || cur.Kind == "" || len(cur.Parents) == 0 {
					t.Errorf("current revision %s = %+v", ch.CurrentRevision, cur)
				}
				if len(ch.Labels["Code-Review"]) == 0 {
					t.Errorf("no Code-Review votes: %+v", ch.Labels)
				}
				for label, votes := range ch.Labels {
					for _, v := range votes {
						if v.Account.ID == 0 || (v.Value != 0 && v.Date.IsZero()) {
							t.Errorf("%s vote %+v", label, v)
						}
					}
				}
				for _, l := range ci.Labels {
					if lo, hi, ok := l.Range(); !ok || lo >= 0 || hi <= 0 {
						t.Errorf("label values %v: range %d..%d %v", l.Values, lo, hi, ok)
					}
				}
				pushed := strings.Contains(name, "merged-by-push")
				if pushed != (len(ch.SubmitRequirements) == 0) {
					t.Errorf("submit requirements %+v (pushed %v)", ch.SubmitRequirements, pushed)
				}
				if len(ch.Messages) == 0 || ch.Messages[0].Author.ID == 0 || ch.Messages[0].Date.IsZero() {
					t.Errorf("messages %+v", ch.Messages)
				}
			}
		})
	}
}

func TestContractPagesAndGroups(t *testing.T) {
	for _, tt := range []struct {
		file     string
		wantMore bool
	}{
		{"changes-page-1.json", true},
		{"changes-page-2.json", true},
		{"changes-page-last.json", false},
	} {
		var page []ChangeInfo
		if err := json.Unmarshal(readContract(t, tt.file), &page); err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		for i, ci := range page {
			last := i == len(page)-1
			if ci.MoreChanges && !last {
				t.Errorf("%s: _more_changes on element %d of %d", tt.file, i, len(page))
			}
			if last && ci.MoreChanges != tt.wantMore {
				t.Errorf("%s: last element _more_changes = %v, want %v", tt.file, ci.MoreChanges, tt.wantMore)
			}
			if ci.Updated.IsZero() || ci.Number == 0 {
				t.Errorf("%s: %+v", tt.file, ci)
			}
		}
	}
	var members []AccountInfo
	if err := json.Unmarshal(readContract(t, "group-members-recursive.json"), &members); err != nil || len(members) == 0 || members[0].ID == 0 || members[0].Username == "" {
		t.Errorf("group members: %+v, %v", members, err)
	}
	var groups []GroupInfo
	if err := json.Unmarshal(readContract(t, "account-groups.json"), &groups); err != nil || len(groups) == 0 || len(groups[0].ID) != 40 || groups[0].Options == nil {
		t.Errorf("account groups: %+v, %v", groups, err)
	}
}
