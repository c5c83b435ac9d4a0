package images

import "embed"

// Units are the systemd unit files, by file name under systemd/.
//
//go:embed systemd/*.service
var Units embed.FS

// UnitNames lists the units an image installs and enables.
var UnitNames = []string{"etcdboot-agent.service", "etcd.service", "etcdboot-watch.service"}

// UnitDir is where an image installs them.
const UnitDir = "/etc/systemd/system"
