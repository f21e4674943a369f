package gitexec

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnvIgnoresUserConfig: a global config that would change git's
// answer (an alias here) is not read, whatever HOME and
// GIT_CONFIG_GLOBAL of our own process say.
func TestEnvIgnoresUserConfig(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, ".gitconfig")
	if err := os.WriteFile(cfg, []byte("[alias]\n\tgg = version\n[core]\n\tbare = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("GIT_CONFIG_GLOBAL", cfg)
	t.Setenv("GERRITGATE_SECRET", "s3cret")
	cmd := Command(context.Background(), t.TempDir(), "gg")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("git gg ran the user's alias: %s", out)
	}
	for _, kv := range cmd.Env {
		if strings.Contains(kv, "s3cret") {
			t.Errorf("our environment leaked into git's: %s", kv)
		}
	}
}

// TestEnvExtraWins: an extra entry overrides a default of the same name.
func TestEnvExtraWins(t *testing.T) {
	dir := t.TempDir()
	cmd := Command(context.Background(), dir, "config", "--global", "--list")
	cmd.Env = Env("HOME="+dir, "GIT_CONFIG_GLOBAL="+filepath.Join(dir, "cfg"))
	if err := os.WriteFile(filepath.Join(dir, "cfg"), []byte("[user]\n\tname = extra\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "user.name=extra") {
		t.Errorf("git config --global --list with an extra GIT_CONFIG_GLOBAL = %q, %v; want user.name=extra", out, err)
	}
}
