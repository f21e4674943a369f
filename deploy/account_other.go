//go:build !unix

package deploy

import (
	"io/fs"

	"github.com/gerritgate/gerritgate/audit"
)

// fileAccount is unknown where files have no owner uid.
func fileAccount(fs.FileInfo) *audit.Account { return nil }

// ProcessAccount is unknown where processes have no uid.
func ProcessAccount() *audit.Account { return nil }
