package e2e

import (
	"bufio"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportDirection keeps the layout of shared/STYLE.md: each package
// imports only the packages of ours listed for it (a parent never imports
// its children, nothing imports cmd or e2e), so there are no cycles and a
// newcomer can find any behaviour from the package table.
func TestImportDirection(t *testing.T) {
	allowed := map[string][]string{
		"gate":                     {"internal/yamlfile", "internal/projectglob"},
		"internal/projectglob":     {},
		"internal/yamlfile":        {},
		"internal/gitexec":         {},
		"internal/gitmerge":        {"internal/gitexec"},
		"internal/redact":          {},
		"internal/treediff":        {},
		"internal/gitid":           {},
		"storage":                  {"internal/gitexec", "internal/gitmerge", "internal/treediff"},
		"storage/uploadpack":       {"storage", "internal/gitexec"},
		"storage/refadv":           {"storage/uploadpack"},
		"storage/packcache":        {"storage/uploadpack", "storage/refadv", "internal/gitexec"},
		"storage/githttp":          {"storage", "storage/uploadpack"},
		"storage/gitssh":           {"storage", "storage/uploadpack"},
		"storage/storagetest":      {"storage", "internal/gitexec"},
		"access":                   {"internal/yamlfile", "internal/projectglob", "internal/filewatch", "storage/githttp", "storage"}, // storage: Grant, ValidateEnv
		"internal/filewatch":       {},
		"mirror":                   {"storage", "internal/redact"},
		"mirror/gerrit":            {"gate", "internal/redact"},
		"mirror/gerrit/gerrittest": {"gate", "mirror/gerrit", "internal/gitexec", "internal/gitmerge"},
		"audit":                    {"gate", "internal/treediff"},
		"deploy":                   {"gate", "storage", "audit"},
		"poll":                     {"deploy", "gate", "storage", "internal/projectglob", "internal/filewatch"},
		"status":                   {"deploy", "audit"},
		"examples":                 {},
		"cmd/gerritgate":           nil, // everything
		"e2e":                      nil,
		"bench":                    {"gate", "internal/gitexec", "mirror", "mirror/gerrit/gerrittest", "storage"},
	}
	// The front ends share code through storage/uploadpack, never
	// sideways: a change to one must not reach into the other.
	for _, pair := range [][2]string{{"storage/gitssh", "storage/githttp"}, {"storage/githttp", "storage/gitssh"}} {
		if slices.Contains(allowed[pair[0]], pair[1]) {
			t.Errorf("the layout table lets %s import %s: share through storage/uploadpack instead", pair[0], pair[1])
		}
	}
	// A leaf of ours that imports nothing of ours any package may use.
	anyMay := []string{"internal/gitid"}
	const mod = "github.com/gerritgate/gerritgate/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	seen := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(fields[0], mod)
		allow, known := allowed[pkg]
		if !known {
			t.Errorf("package %s is not in the layout table: add it here and to README.md's", pkg)
			continue
		}
		seen++
		if allow == nil {
			continue
		}
		for _, imp := range fields[1:] {
			if dep, ours := strings.CutPrefix(imp, mod); ours && !slices.Contains(allow, dep) && !slices.Contains(anyMay, dep) {
				t.Errorf("%s imports %s, which the layout does not allow (allowed: %v)", pkg, dep, allow)
			}
		}
	}
	if seen < len(allowed)-1 {
		t.Errorf("go list found %d of our packages, want %d: is the test running from e2e/?", seen, len(allowed))
	}
}
