package spec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/sdk/errdefs"
)

// maxIDFile bounds how much of /etc/passwd or /etc/group is read: an image
// cannot make the daemon read a huge file.
const maxIDFile = 16 << 20

type passwdEntry struct {
	name     string
	uid, gid int
}

type groupEntry struct {
	name    string
	gid     int
	members []string
}

// resolveUser turns a Docker user spec ("", "name", "uid", "uid:gid",
// "name:group", ...) into the OCI user, looking names up in the container's
// etc/passwd and etc/group. Like runc's libcontainer/user (which dockerd
// uses): a numeric id need not exist in the files, a name must; with no
// explicit group, the user's primary gid comes from passwd and the
// supplementary groups from the group file's member lists. As dockerd does,
// AdditionalGids starts with the primary gid, then the supplementary groups,
// then GroupAdd.
func resolveUser(files fs.FS, userSpec string, groupAdd []string) (specs.User, error) {
	userArg, groupArg, _ := strings.Cut(userSpec, ":")
	passwd, err := readIDFile(files, "etc/passwd", parsePasswd)
	if err != nil {
		return specs.User{}, err
	}
	groups, err := readIDFile(files, "etc/group", parseGroup)
	if err != nil {
		return specs.User{}, err
	}

	uid, gid, name := 0, 0, "root"
	var found *passwdEntry
	numericUID, uidErr := parseID(userArg)
	for i := range passwd {
		p := &passwd[i]
		switch {
		case userArg == "" && p.uid == 0,
			uidErr == nil && p.uid == numericUID,
			uidErr != nil && userArg != "" && p.name == userArg:
			found = p
		}
		if found != nil {
			break
		}
	}
	switch {
	case found != nil:
		uid, gid, name = found.uid, found.gid, found.name
	case userArg == "":
		// root without an /etc/passwd entry: uid 0, gid 0.
	case uidErr == nil:
		uid, name = numericUID, ""
	case errors.Is(uidErr, errIDRange):
		return specs.User{}, fmt.Errorf("unable to find user %s: %w: %w", userArg, uidErr, errdefs.ErrInvalidArgument)
	default:
		return specs.User{}, fmt.Errorf("unable to find user %s: no matching entries in passwd file: %w", userArg, errdefs.ErrInvalidArgument)
	}

	var sgids []uint32
	if groupArg != "" {
		g, err := findGroup(groups, groupArg)
		if err != nil {
			return specs.User{}, err
		}
		gid = g
	} else if name != "" {
		for _, g := range groups {
			for _, m := range g.members {
				if m == name {
					sgids = append(sgids, uint32(g.gid))
					break
				}
			}
		}
	}

	u := specs.User{UID: uint32(uid), GID: uint32(gid), AdditionalGids: []uint32{uint32(gid)}}
	for _, g := range sgids {
		if !slices.Contains(u.AdditionalGids, g) {
			u.AdditionalGids = append(u.AdditionalGids, g)
		}
	}
	for _, ga := range groupAdd {
		g, err := findGroup(groups, ga)
		if err != nil {
			return specs.User{}, err
		}
		if !slices.Contains(u.AdditionalGids, uint32(g)) {
			u.AdditionalGids = append(u.AdditionalGids, uint32(g))
		}
	}
	return u, nil
}

func findGroup(groups []groupEntry, arg string) (int, error) {
	n, numErr := parseID(arg)
	for _, g := range groups {
		if (numErr == nil && g.gid == n) || (numErr != nil && g.name == arg) {
			return g.gid, nil
		}
	}
	switch {
	case numErr == nil:
		return n, nil
	case errors.Is(numErr, errIDRange):
		return 0, fmt.Errorf("unable to find group %s: %w: %w", arg, numErr, errdefs.ErrInvalidArgument)
	default:
		return 0, fmt.Errorf("unable to find group %s: no matching entries in group file: %w", arg, errdefs.ErrInvalidArgument)
	}
}

var errIDRange = errors.New("uids and gids must be in range 0-2147483647")

// parseID parses a numeric uid or gid; a non-numeric string is a name.
func parseID(s string) (int, error) {
	if s == "" {
		return 0, errors.New("empty id")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		var numErr *strconv.NumError
		if errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange) {
			return 0, errIDRange
		}
		return 0, err
	}
	if n < 0 || n > math.MaxInt32 {
		return 0, errIDRange
	}
	return int(n), nil
}

// readIDFile reads and parses one of the rootfs's id files. A missing file
// is an empty one (scratch images have none); anything but a regular file is
// refused. The file is opened non-blocking so a FIFO cannot hang the daemon.
func readIDFile[T any](files fs.FS, name string, parse func(io.Reader) []T) ([]T, error) {
	f, err := openNonBlocking(files, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open /%s in rootfs: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat /%s in rootfs: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("/%s in rootfs is not a regular file (%s): %w", name, st.Mode().Type(), errdefs.ErrInvalidArgument)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIDFile+1))
	if err != nil {
		return nil, fmt.Errorf("read /%s in rootfs: %w", name, err)
	}
	if len(data) > maxIDFile {
		return nil, fmt.Errorf("/%s in rootfs is larger than %d bytes: %w", name, maxIDFile, errdefs.ErrInvalidArgument)
	}
	return parse(bytes.NewReader(data)), nil
}

// openNonBlocking opens name with O_NONBLOCK when files is an os.Root's FS
// (the production case); other fs.FS values (tests) open normally.
func openNonBlocking(files fs.FS, name string) (fs.File, error) {
	if of, ok := files.(interface {
		OpenFile(string, int, fs.FileMode) (fs.File, error)
	}); ok {
		return of.OpenFile(name, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	}
	// fs.Stat first keeps a FIFO from blocking the open.
	st, err := fs.Stat(files, name)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("/%s in rootfs is not a regular file (%s): %w", name, st.Mode().Type(), errdefs.ErrInvalidArgument)
	}
	return files.Open(name)
}

func parsePasswd(r io.Reader) []passwdEntry {
	var out []passwdEntry
	forEachLine(r, func(fields []string) {
		if len(fields) < 4 {
			return
		}
		uid, err1 := parseID(fields[2])
		gid, err2 := parseID(fields[3])
		if err1 != nil || err2 != nil {
			return
		}
		out = append(out, passwdEntry{name: fields[0], uid: uid, gid: gid})
	})
	return out
}

func parseGroup(r io.Reader) []groupEntry {
	var out []groupEntry
	forEachLine(r, func(fields []string) {
		if len(fields) < 3 {
			return
		}
		gid, err := parseID(fields[2])
		if err != nil {
			return
		}
		g := groupEntry{name: fields[0], gid: gid}
		if len(fields) > 3 && fields[3] != "" {
			g.members = strings.Split(fields[3], ",")
		}
		out = append(out, g)
	})
	return out
}

func forEachLine(r io.Reader, fn func(fields []string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxIDFile)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fn(strings.Split(line, ":"))
	}
}
