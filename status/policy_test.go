package status

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// onlyFleet signs everyone in as "r", who may see platform/fleet only.
type onlyFleet struct{}

func (onlyFleet) Reader(*http.Request) (string, bool) { return "r", true }
func (onlyFleet) CanSee(_, project, _ string) bool    { return project == "platform/fleet" }

// policyProd may see the policy project's prod environment only, not the
// environment the policy is gated into.
type policyProd struct{}

func (policyProd) Reader(*http.Request) (string, bool) { return "r", true }
func (policyProd) CanSee(_, project, env string) bool {
	return project == "platform/gate-policy" && env == "prod"
}

// The reviewed policy's state (commit in force, what waits and why) is on
// the page and in /api/v1/status for viewers who may see the policy
// project, and for nobody else; without a reviewed policy there is no
// section.
func TestPolicySection(t *testing.T) {
	in, waiting := strings.Repeat("1", 40), strings.Repeat("2", 40)
	state := Policy{Project: "platform/gate-policy", Branch: "main", Path: "policy.yaml", Commit: in, Subject: "Require Verified",
		Waiting: []PolicyWaiting{{Commit: waiting, Why: "unparsable", Message: "policy.yaml@222222222222:9:5: unknown field \"vetos\""}}}
	tests := []struct {
		what    string
		set     *Policy
		viewers Viewers
		project string // the policy project
		shown   bool
	}{
		{"local policy file", nil, Everyone{}, "", false},
		{"reviewed, viewer sees its project", &state, Everyone{}, "platform/gate-policy", true},
		{"reviewed, viewer may not see its project", &state, onlyFleet{}, "platform/gate-policy", false},
		{"reviewed, viewer may see another environment of its project only", &state, policyProd{}, "platform/gate-policy", false},
	}
	for _, tt := range tests {
		b := NewBoard()
		if tt.set != nil {
			b.SetPolicy(*tt.set)
		}
		mux := http.NewServeMux()
		NewHandler(b, tt.viewers, &explainer{}).Register(mux)
		get := func(path string) string {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
			return w.Body.String()
		}
		var api struct{ Policy *Policy }
		if err := json.Unmarshal([]byte(get("/api/v1/status")), &api); err != nil {
			t.Fatal(err)
		}
		if (api.Policy != nil) != tt.shown {
			t.Errorf("%s: API policy = %+v, want shown %v", tt.what, api.Policy, tt.shown)
		}
		if tt.shown && (api.Policy.Commit != in || len(api.Policy.Waiting) != 1 || api.Policy.Waiting[0].Why != "unparsable") {
			t.Errorf("%s: API policy = %+v, want %s in force and %s unparsable", tt.what, api.Policy, in, waiting)
		}
		page := get("/")
		for _, s := range []string{`id="policy"`, "<code>111111111111</code> “Require Verified”", "<code>222222222222</code> unparsable: policy.yaml@222222222222:9:5"} {
			if strings.Contains(page, s) != tt.shown {
				t.Errorf("%s: page has %q = %v, want %v", tt.what, s, !tt.shown, tt.shown)
			}
		}
	}
}
