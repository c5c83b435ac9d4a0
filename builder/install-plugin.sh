#!/usr/bin/env bash
# Installs a built packer-plugin-etcdboot binary so that a template's
#   required_plugins { etcdboot = { source = "github.com/etcdboot/etcdboot" } }
# finds it: with `packer plugins install --path` where Packer has it (1.10+),
# else (Packer 1.9) by writing the layout `packer init` would: the binary named
# packer-plugin-etcdboot_v<version>_<api>_<os>_<arch> plus its _SHA256SUM file
# under $PACKER_PLUGIN_PATH/github.com/etcdboot/etcdboot/.
set -euo pipefail
packer="${1:?usage: install-plugin.sh PACKER PLUGIN_BINARY}"
plugin="${2:?usage: install-plugin.sh PACKER PLUGIN_BINARY}"
source_addr="github.com/etcdboot/etcdboot"
export CHECKPOINT_DISABLE=1
# -h exits non-zero; under pipefail a pipe from it would always fail.
help="$("$packer" plugins install -h 2>&1 || true)"
if grep -q -- '-path' <<<"$help"; then
  exec "$packer" plugins install --path "$plugin" "$source_addr"
fi
describe="$("$plugin" describe)"
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" <<<"$describe"; }
version="$(field version)"
api="$(field api_version)"
if [[ -z "$version" || -z "$api" ]]; then
  echo "install-plugin: $plugin describe gave no version/api_version: $describe" >&2
  exit 1
fi
os="$(go env GOOS 2>/dev/null || echo linux)"
arch="$(go env GOARCH 2>/dev/null || echo amd64)"
dir="${PACKER_PLUGIN_PATH:-$HOME/.config/packer/plugins}/$source_addr"
name="packer-plugin-etcdboot_v${version}_${api}_${os}_${arch}"
mkdir -p "$dir"
rm -f "$dir"/packer-plugin-etcdboot_*
cp "$plugin" "$dir/$name.tmp"
chmod 0755 "$dir/$name.tmp"
mv "$dir/$name.tmp" "$dir/$name"
sha256sum "$dir/$name" | cut -d' ' -f1 > "$dir/${name}_SHA256SUM"
echo "installed $source_addr v$version ($api) in $dir/$name"
