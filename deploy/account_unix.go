//go:build unix

package deploy

import (
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/gerritgate/gerritgate/audit"
)

// fileAccount is the owner of a request file, from its stat: who wrote
// it, whatever it says.
func fileAccount(fi fs.FileInfo) *audit.Account {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return account(int(st.Uid))
}

// ProcessAccount is the account this process runs as: who acts when an
// operator command works on the repositories without a service.
func ProcessAccount() *audit.Account { return account(os.Getuid()) }

func account(uid int) *audit.Account {
	a := &audit.Account{UID: uid}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		a.User = u.Username
	}
	return a
}
