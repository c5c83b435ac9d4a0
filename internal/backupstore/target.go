package backupstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/aws/smithy-go"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob:// targets
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob" // gs:// targets
	_ "gocloud.dev/blob/s3blob"  // s3:// targets
	"gocloud.dev/gcerrors"
)

// Schemes are the object stores a target URL may name.
var Schemes = []string{"s3", "gs", "azblob", "file"}

// Errors a caller decides on; each is wrapped with the target and what to do.
var (
	// ErrBucketMissing: the bucket (or a file target's directory) does not exist.
	ErrBucketMissing = errors.New("bucket does not exist")
	// ErrAccessDenied: the store refused the credentials, or none were found.
	ErrAccessDenied = errors.New("access denied")
	// ErrUnreachable: the store's endpoint did not answer.
	ErrUnreachable = errors.New("store unreachable")
	// ErrNotFound: no such backup or object in the store.
	ErrNotFound = errors.New("not in the store")
	// ErrIncomplete: a backup's manifest exists but its snapshot object does
	// not (or has another size): it was pruned or damaged.
	ErrIncomplete = errors.New("backup is incomplete")
	// ErrIntegrity: a fetched snapshot does not match its sha256 or fails
	// etcd's own hash or bbolt's check; take the backup before it.
	ErrIntegrity = errors.New("backup fails its checks")
	// ErrOtherCluster: a backup belongs to another cluster than asked for.
	ErrOtherCluster = errors.New("backup of another cluster")
	// ErrExists: a conditional write found the object already there.
	ErrExists = errors.New("object already exists")
)

// Store is one backup target: a bucket and a prefix in it. Its methods are
// safe for concurrent use.
type Store struct {
	target string
	bucket *blob.Bucket
}

// Open opens target and checks that it can be listed, so that a missing
// bucket, refused credentials or an unreachable endpoint are reported here,
// each naming the target and what to do.
//
// Target URLs (gocloud.dev v0.49's openers):
//
//   - s3://BUCKET/PREFIX?region=R: AWS S3. Other S3-compatible stores add
//     endpoint=http://HOST:PORT and use_path_style=true; also accepted:
//     disable_https, dualstack, fips, profile, role (an IAM role ARN to
//     assume, with role_session_name, role_external_id, role_duration,
//     web_identity_token_file), anonymous, hostname_immutable,
//     request_checksum_calculation and response_checksum_validation
//     (when_supported, when_required), ssetype and kmskeyid (server-side
//     encryption), accelerate. Credentials come from the AWS chain:
//     AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity,
//     the instance role.
//   - gs://BUCKET/PREFIX: Google Cloud Storage with Application Default
//     Credentials (GOOGLE_APPLICATION_CREDENTIALS, workload identity, the
//     instance's service account).
//   - azblob://CONTAINER/PREFIX: Azure Blob Storage; the account from
//     AZURE_STORAGE_ACCOUNT (or ?storage_account=), credentials from
//     azidentity's default chain (environment, workload identity, managed
//     identity) or AZURE_STORAGE_KEY.
//   - file:///DIR: a directory (e.g. a mounted NFS share), which must exist:
//     a missing mount must fail rather than fill the local disk.
func Open(ctx context.Context, target string) (*Store, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("backup target %q is not a URL: %w; write e.g. s3://my-bucket/etcd?region=eu-west-1", target, err)
	}
	if !slices.Contains(Schemes, u.Scheme) {
		return nil, fmt.Errorf("backup target %q: scheme %q is not an object store etcdboot writes to; use one of %s", target, u.Scheme, strings.Join(Schemes, ", "))
	}
	if u.User != nil {
		return nil, fmt.Errorf("backup target %q carries credentials; remove them and use the cloud's credential chain (environment, instance role, workload identity)", redact(u))
	}
	s := &Store{target: target}
	var b *blob.Bucket
	if u.Scheme == "file" {
		b, err = openDir(ctx, u)
	} else {
		b, err = openBucket(ctx, u)
	}
	if err != nil {
		return nil, err
	}
	s.bucket = b
	ok, err := b.IsAccessible(ctx)
	if err == nil && !ok {
		err = ErrBucketMissing
	}
	if err != nil {
		b.Close()
		return nil, s.wrap("open", "", err)
	}
	return s, nil
}

// openBucket opens a cloud bucket: the URL's host is the bucket, its path
// the prefix every key of this target is under.
func openBucket(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("backup target %q names no bucket; write %s://BUCKET/PREFIX", redact(u), u.Scheme)
	}
	bu := *u
	bu.Path, bu.RawPath = "", ""
	b, err := blob.OpenBucket(ctx, bu.String())
	if err != nil {
		return nil, fmt.Errorf("backup target %s: %w", redact(u), err)
	}
	if prefix := strings.Trim(u.Path, "/"); prefix != "" {
		b = blob.PrefixedBucket(b, prefix+"/")
	}
	return b, nil
}

// openDir opens a file:// target. Metadata side files are not written
// unless the URL asks for them: manifests carry what a reader needs.
func openDir(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	if u.Host != "" && u.Host != "localhost" || !strings.HasPrefix(u.Path, "/") {
		return nil, fmt.Errorf("backup target %q: a file target is an absolute path with three slashes, e.g. file:///var/backups/etcd", redact(u))
	}
	fi, err := os.Stat(u.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("backup target %s: directory %s does not exist: %w; create it (or mount the share) or fix backup.target", redact(u), u.Path, ErrBucketMissing)
	case err != nil:
		return nil, fmt.Errorf("backup target %s: %w", redact(u), err)
	case !fi.IsDir():
		return nil, fmt.Errorf("backup target %s: %s is not a directory; fix backup.target", redact(u), u.Path)
	}
	fu := *u
	q := fu.Query()
	if !q.Has("metadata") {
		q.Set("metadata", string(fileblob.MetadataDontWrite))
	}
	fu.RawQuery = q.Encode()
	b, err := (&fileblob.URLOpener{}).OpenBucketURL(ctx, &fu)
	if err != nil {
		return nil, fmt.Errorf("backup target %s: %w", redact(u), err)
	}
	return b, nil
}

// Target returns the target URL the store was opened with.
func (s *Store) Target() string { return s.target }

// Close releases the store's connections.
func (s *Store) Close() error { return s.bucket.Close() }

// redact drops any user info from a URL before it is printed.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// accessCodes are the S3 error codes of refused or missing credentials.
var accessCodes = []string{"AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "AuthorizationHeaderMalformed"}

// wrap classifies err from operation op on key (empty for the target
// itself) into one of the package's errors, naming the target and what to
// do; errors already classified pass through with the context added.
func (s *Store) wrap(op, key string, err error) error {
	where := "backup target " + s.target
	if key != "" {
		where += ": " + key
	}
	var ae smithy.APIError
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case errors.Is(err, ErrBucketMissing):
		return fmt.Errorf("%s: %s: %w: create it or fix the target URL", where, op, ErrBucketMissing)
	case gcerrors.Code(err) == gcerrors.NotFound:
		if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket" {
			return fmt.Errorf("%s: %s: %w: create it or fix the target URL", where, op, ErrBucketMissing)
		}
		return fmt.Errorf("%s: %s: %w", where, op, ErrNotFound)
	case gcerrors.Code(err) == gcerrors.FailedPrecondition:
		return fmt.Errorf("%s: %s: %w", where, op, ErrExists)
	case gcerrors.Code(err) == gcerrors.PermissionDenied,
		errors.As(err, &ae) && slices.Contains(accessCodes, ae.ErrorCode()):
		return fmt.Errorf("%s: %s: %w (%v); check the credentials the node's chain finds (AWS_ACCESS_KEY_ID or AWS_PROFILE, the instance role, workload identity) and their permissions on the bucket", where, op, ErrAccessDenied, err)
	case strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "no EC2 IMDS role found"),
		strings.Contains(err.Error(), "DefaultAzureCredential"), strings.Contains(err.Error(), "could not find default credentials"):
		return fmt.Errorf("%s: %s: %w: no credentials found (%v); give the node an instance role or workload identity, or set the cloud's environment variables", where, op, ErrAccessDenied, err)
	case errors.As(err, &oe) || errors.As(err, &de):
		return fmt.Errorf("%s: %s: %w (%v); check the endpoint in the URL and the network path to it", where, op, ErrUnreachable, err)
	}
	return fmt.Errorf("%s: %s: %w", where, op, err)
}
