package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// version and commit are stamped at build time (the Dockerfile does:
// -ldflags "-X main.version=v1.2.3 -X main.commit=<sha>"). An unstamped
// build reports the commit go build recorded (vcs.revision), if any.
var (
	version = "dev"
	commit  = ""
)

// cmdVersion prints the version and the commit it was built from.
func cmdVersion(stdout io.Writer) error {
	fmt.Fprintln(stdout, "gerritgate", version, "commit", buildCommit(commit, debug.ReadBuildInfo))
	return nil
}

// buildCommit is the stamped commit, else the build info's vcs.revision
// (with "-dirty" when the tree had changes), else "unknown".
func buildCommit(stamped string, read func() (*debug.BuildInfo, bool)) string {
	if stamped != "" {
		return stamped
	}
	info, ok := read()
	if !ok {
		return "unknown"
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "unknown"
	}
	return rev + dirty
}
