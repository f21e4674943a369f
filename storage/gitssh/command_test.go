package gitssh

import (
	"errors"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		raw         string
		wantVerb    string
		wantProject string
		wantErr     error
	}{
		{`git-upload-pack '/platform/fleet.git'`, uploadPack, "platform/fleet", nil},
		{`git-upload-pack 'platform/fleet.git'`, uploadPack, "platform/fleet", nil},
		{`git-upload-pack '/platform/fleet'`, uploadPack, "platform/fleet", nil},
		{`git upload-pack 'platform/fleet'`, uploadPack, "platform/fleet", nil},
		{`git-upload-pack platform/fleet.git`, uploadPack, "platform/fleet", nil},
		{`git-upload-pack 'team-x/app_1.2+b@c'`, uploadPack, "team-x/app_1.2+b@c", nil},
		{`git-receive-pack '/platform/fleet.git'`, receivePack, "platform/fleet", nil},
		{`git receive-pack 'platform/fleet'`, receivePack, "platform/fleet", nil},
		{`git-upload-archive '/platform/fleet.git'`, uploadArchive, "platform/fleet", nil},

		{`git-upload-pack '../upstream/platform/fleet.git'`, uploadPack, "", errBadPath},
		{`git-upload-pack '/../upstream/platform/fleet.git'`, uploadPack, "", errBadPath},
		{`git-upload-pack 'platform/../secret'`, uploadPack, "", errBadPath},
		{`git-upload-pack 'platform/./fleet'`, uploadPack, "", errBadPath},
		{`git-upload-pack '%2e%2e/upstream/platform/fleet'`, uploadPack, "", errBadPath},
		{`git-upload-pack '//etc/passwd'`, uploadPack, "", errBadPath},
		{`git-upload-pack 'platform//fleet'`, uploadPack, "", errBadPath},
		{`git-upload-pack 'platform/fleet/'`, uploadPack, "", errBadPath},
		{`git-upload-pack '/'`, uploadPack, "", errBadPath},
		{`git-upload-pack '.git'`, uploadPack, "", errBadPath},
		{`git-upload-pack '~/x'`, uploadPack, "", errBadPath},
		{`git-upload-pack 'x;id'`, uploadPack, "", errBadPath},
		{`git-upload-pack '$(id)'`, uploadPack, "", errBadPath},
		{"git-upload-pack '`id`'", uploadPack, "", errBadPath},
		{`git-upload-pack 'x|id'`, uploadPack, "", errBadPath},
		{`git-upload-pack 'x&id'`, uploadPack, "", errBadPath},
		{`git-upload-pack 'x>y'`, uploadPack, "", errBadPath},
		{`git-upload-pack 'a b'`, uploadPack, "", errBadPath},
		{"git-upload-pack 'a\nb'", uploadPack, "", errBadPath},
		{`git-upload-pack ''`, uploadPack, "", errBadPath},

		{`git-upload-pack 'a' 'b'`, uploadPack, "", errMalformed},
		{`git-upload-pack 'a'; id`, uploadPack, "", errMalformed},
		{`git-upload-pack 'a`, uploadPack, "", errMalformed},
		{`git-upload-pack '`, uploadPack, "", errMalformed},
		{`git-upload-pack 'a'\''b'`, uploadPack, "", errMalformed},
		{`git-upload-pack a b`, uploadPack, "", errMalformed},
		{`git-upload-pack --strict 'a'`, uploadPack, "", errMalformed},
		{`git-upload-pack "a"`, uploadPack, "", errMalformed},
		{`git-upload-pack `, uploadPack, "", errMalformed},
		{`git-upload-pack`, uploadPack, "", errMalformed},
		{`git-upload-pack  'a'`, uploadPack, "", errMalformed},

		{`sh -c 'id'`, "", "", errUnknownCommand},
		{`git-upload-packx 'a'`, "", "", errUnknownCommand},
		{`git upload-pack-x 'a'`, "", "", errUnknownCommand},
		{`/usr/bin/git-upload-pack 'a'`, "", "", errUnknownCommand},
		{` git-upload-pack 'a'`, "", "", errUnknownCommand},
		{`scp -f x`, "", "", errUnknownCommand},
		{`git`, "", "", errUnknownCommand},
	}
	for _, tt := range tests {
		verb, arg, err := splitCommand(tt.raw)
		project := ""
		if err == nil {
			project, err = projectFromPath(arg)
		}
		if verb != tt.wantVerb || project != tt.wantProject || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("parse %q = %q, %q, %v; want %q, %q, %v", tt.raw, verb, project, err, tt.wantVerb, tt.wantProject, tt.wantErr)
		}
	}
}

func TestGitProtocol(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{nil, ""},
		{[]string{"GIT_PROTOCOL=version=2"}, "version=2"},
		{[]string{"GIT_PROTOCOL=version=1", "GIT_PROTOCOL=version=2"}, "version=2"},
		{[]string{"GIT_PROTOCOL=version=2 evil"}, ""},
		{[]string{"GIT_PROTOCOL=version=2\nX=1"}, ""},
		{[]string{"GIT_PROTOCOLX=version=2"}, ""},
	}
	for _, tt := range tests {
		if got := gitProtocol(tt.env); got != tt.want {
			t.Errorf("gitProtocol(%q) = %q, want %q", tt.env, got, tt.want)
		}
	}
}
