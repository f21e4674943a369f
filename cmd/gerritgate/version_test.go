package main

import (
	"bytes"
	"runtime/debug"
	"testing"
)

func TestBuildCommit(t *testing.T) {
	info := func(settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Settings: settings}, true }
	}
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0123abc"}
	for _, tc := range []struct {
		name    string
		stamped string
		read    func() (*debug.BuildInfo, bool)
		want    string
	}{
		{"stamped wins over build info", "feedbee", info(rev), "feedbee"},
		{"vcs.revision when not stamped", "", info(rev), "0123abc"},
		{"a modified tree says so", "", info(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"}), "0123abc-dirty"},
		{"a clean tree does not", "", info(rev, debug.BuildSetting{Key: "vcs.modified", Value: "false"}), "0123abc"},
		{"no vcs settings", "", info(), "unknown"},
		{"no build info", "", func() (*debug.BuildInfo, bool) { return nil, false }, "unknown"},
	} {
		if got := buildCommit(tc.stamped, tc.read); got != tc.want {
			t.Errorf("%s: buildCommit(%q) = %q, want %q", tc.name, tc.stamped, got, tc.want)
		}
	}
}

func TestVersionCommandPrintsVersionAndCommit(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v9.8.7", "c0ffee"
	var out bytes.Buffer
	if err := run([]string{"version"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "gerritgate v9.8.7 commit c0ffee\n"; got != want {
		t.Errorf("gerritgate version printed %q, want %q", got, want)
	}
}
