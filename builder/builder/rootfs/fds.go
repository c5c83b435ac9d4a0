package rootfs

import (
	"os"
	"strconv"
	"syscall"
)

// closeInheritedFDs marks every descriptor above stderr close-on-exec. Go
// opens its own that way, but descriptors this process inherited without the
// flag (from Packer, or whatever started Packer) would otherwise pass on to
// mmdebstrap, apt and every provisioner command. Taking up the low numbers,
// they push apt's hook pipe past fd 9, which dash cannot redirect
// ("cat >&11": Bad fd number), and mmdebstrap fails.
func closeInheritedFDs() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		syscall.CloseOnExec(fd)
	}
}
