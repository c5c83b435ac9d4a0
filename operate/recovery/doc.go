// Package recovery is `etcdboot recover`: after a cluster lost its quorum,
// it writes a recovery request into the cluster's backup target naming one
// backup (the newest verified one, or one the operator picks), after
// checking that no quorum of the cluster answers and that the backup passes
// every check; or, given a surviving member, it takes that member's
// snapshot (etcd serves one without a quorum) and uploads it as a backup of
// the cluster first, so that the writes since the last backup come back. The agents act on the request at their next boot (package
// bootstrap): each member that sees no healthy quorum moves its data dir
// aside, restores that backup under a token derived from the request's
// nonce and re-forms the cluster; a member that still sees one ignores it.
// Recovery never happens without this command: quorum loss needs an
// operator's decision, total loss of a group configured for it does not.
package recovery
