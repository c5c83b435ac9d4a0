package spec

// Values of Recovery.FromBackup.
const (
	// RecoveryNever forms an empty cluster after a total loss (the default).
	RecoveryNever = "never"
	// RecoveryAuto forms a cluster that finds no member running and has
	// empty data dirs from the newest verified backup in backup.target.
	RecoveryAuto = "auto"
)

// Recovery says what a cluster that lost every member does when it forms
// again.
type Recovery struct {
	// FromBackup is "never" (form empty) or "auto": form from the newest
	// verified backup of this cluster in backup.target, skipping a corrupt
	// one for the one before it.
	FromBackup string `yaml:"fromBackup,omitempty"`
}

// Auto reports whether r asks for recovery from backups.
func (r *Recovery) Auto() bool { return r != nil && r.FromBackup == RecoveryAuto }

// recovery checks the recovery section against the backup section.
func (c *checker) recovery(r Recovery, b *Backup) {
	switch r.FromBackup {
	case "", RecoveryNever:
	case RecoveryAuto:
		if b == nil || b.Target == "" {
			c.errorf("recovery.fromBackup", "auto needs backups in an object store to recover from: set backup.target (e.g. s3://bucket/prefix), or write never")
		}
	default:
		c.errorf("recovery.fromBackup", "%q is not a recovery mode; write auto (form from the newest verified backup after a total loss) or never", r.FromBackup)
	}
}
