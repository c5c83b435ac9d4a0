package spec

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// MinBackupInterval is the shortest backup interval a spec may ask for: each
// round streams the whole database out of a member.
const MinBackupInterval = time.Minute

// backup checks a backup section with defaults applied. members are the
// names a writer may be; autoscaling members have names derived from
// addresses, known only on the node.
func (c *checker) backup(b Backup, members []Member, autoscaling bool, dataDir string) {
	switch iv := b.Interval.Std(); {
	case iv < MinBackupInterval:
		c.errorf("backup.interval", "%v is shorter than %v; every round streams the whole database out of the leader, use e.g. 1h", b.Interval, MinBackupInterval)
	case iv%time.Second != 0:
		c.errorf("backup.interval", "%v is not a whole number of seconds; systemd timers count in seconds, write e.g. 90s", iv)
	}
	if b.Retention < 1 {
		c.errorf("backup.retention", "%d keeps no snapshot; keep at least 1, e.g. retention: 24", b.Retention)
	}
	if age := b.MaxAge.Std(); age < 0 || (age > 0 && age < b.Interval.Std()) {
		c.errorf("backup.maxAge", "%v is shorter than backup.interval (%v): every backup would expire before the next is taken; write e.g. 168h, or leave it out for no age limit", b.MaxAge.Std(), b.Interval.Std())
	}
	switch {
	case !strings.HasPrefix(b.Dir, "/"):
		c.errorf("backup.dir", "%q is not an absolute path; write e.g. %s", b.Dir, DefaultBackupDir)
	case path.Clean(b.Dir) != b.Dir:
		c.errorf("backup.dir", "%q is not a clean path; write %s", b.Dir, path.Clean(b.Dir))
	case b.Dir == "/":
		c.errorf("backup.dir", "is the root directory; give the directory of its own that retention prunes, e.g. %s", DefaultBackupDir)
	case dataDir != "" && (b.Dir == dataDir || strings.HasPrefix(b.Dir, strings.TrimSuffix(dataDir, "/")+"/")):
		c.errorf("backup.dir", "%s is inside etcd.dataDir (%s), which a restore or rejoin moves aside with the member; put backups elsewhere, e.g. %s", b.Dir, dataDir, DefaultBackupDir)
	}
	if b.Writer != WriterLeader {
		switch {
		case autoscaling:
			c.errorf("backup.writer", "%q names a member, but an autoscaling group's members are named after their addresses on boot; use writer: %s", b.Writer, WriterLeader)
		case !slices.ContainsFunc(members, func(m Member) bool { return m.Name == b.Writer }):
			names := make([]string, len(members))
			for i, m := range members {
				names[i] = m.Name
			}
			c.errorf("backup.writer", "%q is not a member; write %s (whichever member leads at the time) or one of: %s", b.Writer, WriterLeader, strings.Join(names, ", "))
		}
	}
	for i, arg := range b.Upload {
		p := fmt.Sprintf("backup.upload[%d]", i)
		switch {
		case arg == "":
			c.errorf(p, "is empty; remove it or give the argument")
		case i == 0 && !strings.HasPrefix(arg, "/"):
			c.errorf(p, "%q is not an absolute path; the command runs without a shell or PATH search, write e.g. /usr/local/bin/upload-snapshot", arg)
		}
	}
	if b.Target != "" {
		c.backupTarget(b.Target)
	}
	if b.UploadTimeout.Std() < time.Second {
		c.errorf("backup.uploadTimeout", "%v is shorter than a second; give the upload time, e.g. 15m", b.UploadTimeout)
	}
}

// BackupTargetSchemes are the object stores backup.target may name.
var BackupTargetSchemes = []string{"s3", "gs", "azblob", "file"}

// backupTarget checks the form of a target URL; whether the bucket exists
// and the credentials work is found on the node.
func (c *checker) backupTarget(target string) {
	u, err := url.Parse(target)
	switch {
	case err != nil:
		c.errorf("backup.target", "%q is not a URL (%v); write e.g. s3://my-bucket/etcd?region=eu-west-1", target, err)
	case !slices.Contains(BackupTargetSchemes, u.Scheme):
		c.errorf("backup.target", "%q: scheme %q is not an object store etcdboot writes to; use one of %s, e.g. s3://my-bucket/etcd?region=eu-west-1", target, u.Scheme, strings.Join(BackupTargetSchemes, ", "))
	case u.Scheme == "file" && (u.Host != "" || !strings.HasPrefix(u.Path, "/")):
		c.errorf("backup.target", "%q: a file target is an absolute path with three slashes, e.g. file:///var/backups/etcd", target)
	case u.Scheme != "file" && u.Host == "":
		c.errorf("backup.target", "%q names no bucket; write %s://BUCKET/PREFIX", target, u.Scheme)
	case u.User != nil:
		c.errorf("backup.target", "%q carries credentials; remove them: the node uses its cloud's credential chain (instance role, environment, workload identity)", target)
	}
	for _, secret := range []string{"secret", "password", "access_key", "accesskey", "token", "sig"} {
		for k := range u.Query() {
			if strings.Contains(strings.ToLower(k), secret) {
				c.errorf("backup.target", "%q has the query parameter %q, which looks like a credential; payloads must not carry secrets: use the cloud's credential chain", target, k)
			}
		}
	}
}
