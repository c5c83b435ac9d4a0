// Package backupstore keeps etcd snapshots in an object store named by a
// URL (s3://, gs://, azblob://, file://, through gocloud.dev/blob and each
// cloud's own credential chain): a backup is the snapshot object, its
// sha256 and a small JSON manifest, written data first and manifest last so
// that a reader never takes a half-written backup for one. It lists
// complete backups newest first, fetches one into a local file checked
// against its sha256 and etcd's own hash, applies retention in the store,
// and reads and writes small side objects (a conditional put where the
// store supports it) for the agents that coordinate through the store.
package backupstore
