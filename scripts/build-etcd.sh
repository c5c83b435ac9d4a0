#!/usr/bin/env bash
# Builds etcd, etcdctl and etcdutl from the Go module proxy, one directory per
# version: bin/etcd-VERSION/{etcd,etcdctl,etcdutl}. Debian's etcd is too old;
# etcd's own release tarballs are not reachable here, the module proxy is.
#
#   build-etcd.sh [--default VERSION] VERSION...
#
# Each version builds in its own scratch module, .cache/etcd-build-VERSION,
# and is cached by version (bin/etcd-VERSION/.etcd-version): a version that is
# already built is only reported. The default version (--default, else the
# first VERSION) is also what bin/etcd, bin/etcdctl and bin/etcdutl point to
# (relative symlinks into bin/etcd-DEFAULT/), with its version in
# bin/.etcd-version. Versions are exact tags: the proxy refuses version lists
# for some of etcd's modules, so nothing here asks for "latest".
#
# Everything that may be in use while this runs (tests start bin/etcd all the
# time) is replaced by rename(2) only: binaries and links are written under a
# temporary name and moved over the old one, never removed first.
set -euo pipefail

# The etcdctl used for a version whose own etcdctl the module proxy does not
# serve (go.etcd.io/etcd/etcdctl/v3@v3.5.27 answers 403 "not available"; its
# server and etcdutl are served and build). etcdctl speaks the v3 client API,
# which a newer etcdctl uses against 3.5 members just as well.
etcdctl_fallback="${ETCDCTL_FALLBACK:-v3.6.16}"

usage() {
  echo "usage: build-etcd.sh [--default VERSION] VERSION... (e.g. v3.6.16)" >&2
  exit 2
}
default=""
versions=()
while (($#)); do
  case "$1" in
  --default)
    [[ $# -ge 2 ]] || usage
    default="$2"
    shift 2
    ;;
  -*) usage ;;
  *)
    versions+=("$1")
    shift
    ;;
  esac
done
((${#versions[@]})) || [[ -n "$default" ]] || usage
default="${default:-${versions[0]}}"
for v in "$default" "${versions[@]}"; do
  [[ "$v" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
    echo "build-etcd.sh: $v is not an exact version like v3.6.16" >&2
    exit 2
  }
done

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
mkdir -p "$bin"
# The scratch modules sit inside this repository's tree; no workspace applies.
export GOWORK=off

# present VERSION: bin/etcd-VERSION holds all three binaries of VERSION.
present() {
  local dir="$bin/etcd-$1"
  [[ -x "$dir/etcd" && -x "$dir/etcdctl" && -x "$dir/etcdutl" &&
    "$(cat "$dir/.etcd-version" 2>/dev/null)" == "$1" ]]
}

# install_file SRC DST: moves SRC over DST in one rename.
install_file() {
  mv -f -T "$1" "$2"
}

# link TARGET NAME: points the symlink NAME at TARGET in one rename.
link() {
  local tmp
  tmp="$(dirname "$2")/.$(basename "$2").tmp.$$"
  ln -sfn "$1" "$tmp"
  mv -f -T "$tmp" "$2"
}

# etcdctl_served VERSION: whether the proxy serves etcdctl at VERSION. Fails
# the build on any other error (a network failure is not "not served").
etcdctl_served() {
  local out
  if out=$(go list -m "go.etcd.io/etcd/etcdctl/v3@$1" 2>&1); then
    return 0
  fi
  if grep -qE '403|404|410|not available|not found|unknown revision|invalid version' <<<"$out"; then
    return 1
  fi
  echo "$out" >&2
  echo "build-etcd.sh: cannot ask the module proxy for etcdctl $1" >&2
  exit 1
}

building=" "
build() {
  local version="$1"
  if present "$version"; then
    echo "etcd $version already in bin/etcd-$version/"
    return 0
  fi
  # A fallback etcdctl that needs the version being built would loop.
  [[ "$building" != *" $version "* ]] || {
    echo "build-etcd.sh: etcdctl fallback loop at $version" >&2
    exit 1
  }
  building+="$version "
  local dir="$bin/etcd-$version" work="$root/.cache/etcd-build-$version" own_ctl=1
  mkdir -p "$dir" "$work"
  if [[ ! -f "$work/go.mod" ]]; then
    printf 'module etcdbuild\n\ngo 1.24\n' >"$work/go.mod"
  fi
  cd "$work"
  if ! etcdctl_served "$version"; then
    own_ctl=0
    [[ "$etcdctl_fallback" != "$version" ]] || {
      echo "build-etcd.sh: the proxy serves no etcdctl $version and it is the fallback" >&2
      exit 1
    }
    present "$etcdctl_fallback" || build "$etcdctl_fallback"
  fi
  (
    cd "$work"
    export GOFLAGS=-mod=mod
    mods=("go.etcd.io/etcd/server/v3@$version" "go.etcd.io/etcd/etcdutl/v3@$version")
    if ((own_ctl)); then
      mods+=("go.etcd.io/etcd/etcdctl/v3@$version")
    fi
    echo "building etcd $version from the module proxy into bin/etcd-$version/ (several minutes)..."
    start=$SECONDS
    go get "${mods[@]}"
    go build -trimpath -o "$dir/.etcd.tmp" go.etcd.io/etcd/server/v3
    go build -trimpath -o "$dir/.etcdutl.tmp" go.etcd.io/etcd/etcdutl/v3
    if ((own_ctl)); then
      go build -trimpath -o "$dir/.etcdctl.tmp" go.etcd.io/etcd/etcdctl/v3
    fi
    install_file "$dir/.etcd.tmp" "$dir/etcd"
    install_file "$dir/.etcdutl.tmp" "$dir/etcdutl"
    if ((own_ctl)); then
      install_file "$dir/.etcdctl.tmp" "$dir/etcdctl"
    fi
    echo "etcd $version built in $((SECONDS - start))s"
  )
  if ((!own_ctl)); then
    link "../etcd-$etcdctl_fallback/etcdctl" "$dir/etcdctl"
    echo "the module proxy serves no etcdctl $version: bin/etcd-$version/etcdctl is etcdctl $etcdctl_fallback"
  fi
  local line
  line=$("$dir/etcd" --version)
  line="${line%%$'\n'*}"
  [[ "$line" == *" ${version#v}" ]] || {
    echo "build-etcd.sh: bin/etcd-$version/etcd says \"$line\"" >&2
    exit 1
  }
  echo "$version" >"$dir/.etcd-version.tmp"
  install_file "$dir/.etcd-version.tmp" "$dir/.etcd-version"
  echo "$line"
}

# The default first: the others' etcdctl fallback is usually the default.
build "$default"
for v in "${versions[@]}"; do
  [[ "$v" == "$default" ]] || build "$v"
done

for b in etcd etcdctl etcdutl; do
  if [[ "$(readlink "$bin/$b" 2>/dev/null)" != "etcd-$default/$b" ]]; then
    link "etcd-$default/$b" "$bin/$b"
    echo "bin/$b -> etcd-$default/$b"
  fi
done
if [[ "$(cat "$bin/.etcd-version" 2>/dev/null)" != "$default" ]]; then
  echo "$default" >"$bin/.etcd-version.tmp"
  install_file "$bin/.etcd-version.tmp" "$bin/.etcd-version"
fi
echo "default etcd $default: bin/etcd, bin/etcdctl, bin/etcdutl"
