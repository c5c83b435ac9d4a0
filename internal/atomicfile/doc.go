// Package atomicfile replaces files so that a crash leaves either the old or
// the new content, never a torn file: write a temp file beside the target,
// fsync, rename, fsync the directory.
package atomicfile
