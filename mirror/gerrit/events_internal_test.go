package gerrit

import "testing"

func TestParseEvent(t *testing.T) {
	tests := []struct {
		line string
		want Event
		ok   bool
	}{
		{`{"type":"change-merged","change":{"project":"platform/fleet","number":1},"newRev":"abc"}`, Event{"change-merged", "platform/fleet"}, true},
		{`{"type":"ref-updated","refUpdate":{"project":"platform/fleet","refName":"refs/heads/main"}}`, Event{"ref-updated", "platform/fleet"}, true},
		{`{"type":"comment-added","change":{"project":"a/b"}}`, Event{"comment-added", "a/b"}, true},
		{`{"type":"project-created","projectName":"x","project":"x"}`, Event{"project-created", "x"}, true},
		{`{"type":"dropped-output"}`, Event{"dropped-output", ""}, true},
		{`not json`, Event{}, false},
		{`{"change":{"project":"x"}}`, Event{}, false},
	}
	for _, tt := range tests {
		got, ok := parseEvent([]byte(tt.line))
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseEvent(%s) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}
