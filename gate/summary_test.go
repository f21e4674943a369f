package gate

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	c, err := ParsePolicy("policy.yaml", []byte(fullPolicy))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		policy string
		want   []string
	}{
		{"prod", []string{
			"merged through Gerrit submit (not a direct push), as the merged patch set of its change",
			"needs Code-Review +2 or more",
			"needs Verified +1 or more",
			"needs Code-Review +2 or more from 2 distinct accounts",
			"changes to clusters/prod/**, infra/** need Code-Review +2 or more from a member of sre",
			"submit requirements Code-Review, Verified SATISFIED (OVERRIDDEN and FORCED do not count)",
			"blocked by any Code-Review vote of -2 or less, votes after submit included",
			"blocked by any Verified vote of -1 or less, votes after submit included",
			"votes by the change owner and the uploader of the reviewed patch set do not count",
			"a vote cast on an earlier patch set counts only if every later one up to the merged patch set is TRIVIAL_REBASE, TRIVIAL_REBASE_WITH_MESSAGE_UPDATE, NO_CODE_CHANGE, MERGE_FIRST_PARENT_UPDATE, NO_CHANGE: the code it reviewed is the code that merged",
		}},
		{"reviewed", []string{
			"merged through Gerrit submit (not a direct push), as the merged patch set of its change",
			"needs Code-Review +2 or more",
			"needs Verified +1 or more",
			"every submit requirement SATISFIED or NOT_APPLICABLE (OVERRIDDEN and FORCED do not count)",
			"blocked by any Code-Review vote of -2 or less, votes after submit included",
			"blocked by any Verified vote of -1 or less, votes after submit included",
			"votes by the change owner and the uploader of the reviewed patch set do not count",
			"a vote cast on an earlier patch set counts only if every later one up to the merged patch set is TRIVIAL_REBASE, TRIVIAL_REBASE_WITH_MESSAGE_UPDATE, NO_CODE_CHANGE, MERGE_FIRST_PARENT_UPDATE, NO_CHANGE: the code it reviewed is the code that merged",
		}},
	}
	for _, tt := range tests {
		got := c.Policies[tt.policy].Summary()
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("Summary of %s:\n%s\nwant:\n%s", tt.policy, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
	p := c.Policies["reviewed"]
	p.SelfApproval, p.AllowOverridden = true, true
	got := strings.Join(p.Summary(), "\n")
	for _, want := range []string{"(OVERRIDDEN and FORCED count)", "uploader of the reviewed patch set count"} {
		if !strings.Contains(got, want) {
			t.Errorf("Summary with selfApproval and allowOverridden:\n%s\nwant it to say %q", got, want)
		}
	}
}
