// Package gitexec is the one way this module starts C git: in a clean
// environment, so nothing of the machine's or the user's configuration
// (hooks, aliases, credential helpers, url rewrites, a pager, a prompt)
// changes what git does. It never passes our own environment through, and
// so never hands a child a secret from it.
package gitexec

import (
	"context"
	"os"
	"os/exec"
)

// Env returns the environment of a git child process: PATH, no system or
// global configuration, no home, no terminal prompt, the C locale (so
// messages can be matched), then extra. A later entry wins over an earlier
// one with the same name (os/exec keeps the last), so extra may override
// HOME, say.
func Env(extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=/nonexistent",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}
	return append(env, extra...)
}

// Command returns git with args run on the repository gitDir (--git-dir),
// in Env's environment, killed when ctx ends.
func Command(ctx context.Context, gitDir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", append([]string{"--git-dir", gitDir}, args...)...)
	cmd.Env = Env()
	return cmd
}
