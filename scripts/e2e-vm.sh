#!/usr/bin/env bash
# Optional end-to-end test, not in CI (make e2e-vm): boots the image as a
# real VM. Builds a VM variant of images/packer/local-rootfs.pkr.hcl (the raw
# ext4 disk image, plus a kernel and its initramfs), generates a one-member
# cluster whose member is QEMU user networking's guest (10.0.2.15), boots the
# disk in QEMU with the member's user-data on a NoCloud seed ISO, and waits
# until `etcdboot status` through a forwarded port finds the member healthy.
# Nobody logs in: cloud-init writes the payload and starts the agent, the
# agent firewalls the node and starts etcd.
#
# Needs bin/ from make etcd build plugin, and root to build the image
# (mmdebstrap, chroot) and to install QEMU (scripts/deps-vm.sh).
# Environment:
#   E2E_VM_ACCEL=kvm|tcg   default: kvm when /dev/kvm and VT-x/AMD-V are there
#                          (falling back to tcg if KVM cannot run the guest)
#   E2E_VM_TIMEOUT=SECONDS boot-to-healthy bound; default 600 (tcg), 300 (kvm)
#   E2E_VM_REBUILD=1       rebuild the VM image even when it is current
#   E2E_VM_IMAGE_DIR=DIR   where the VM image is built; default out/image/vm
#   E2E_VM_PORT=PORT       host port forwarded to the guest's 2379
#   E2E_VM_KEEP=1          keep the scratch directory (seed, serial log)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
image_dir="${E2E_VM_IMAGE_DIR:-$root/out/image/vm}"
# The VM variant adds a kernel (its initramfs made by initramfs-tools in the
# build) and ifupdown: the image has no network manager of its own, and
# without one cloud-init renders a systemd-networkd config that nothing
# starts, so the guest never gets its address. With ifupdown cloud-init
# renders /etc/network/interfaces.d (DHCP on the first NIC), as on Debian's
# cloud images, and networking.service brings it up.
vm_packages=(linux-image-cloud-amd64 ifupdown)
guest_ip=10.0.2.15
member=vm1

log() { printf 'e2e-vm: %s\n' "$*"; }
die() {
  printf 'e2e-vm: %s\n' "$*" >&2
  exit 1
}

for b in etcdboot etcdboot-agent etcd etcdctl etcdutl packer; do
  [[ -x "$bin/$b" ]] || die "no bin/$b: run make etcd build plugin"
done
"$root/scripts/deps-vm.sh"
export PACKER_PLUGIN_PATH="${PACKER_PLUGIN_PATH:-$root/.cache/packer-plugins}"
export CHECKPOINT_DISABLE=1

etcd_version="$(cat "$bin/.etcd-version" 2>/dev/null || echo v3.6.16)"
etcd_version="${etcd_version#v}"

# --- 1. The VM image --------------------------------------------------------

rootfs="$image_dir/rootfs"
raw="$image_dir/rootfs.img"

# image_current: the raw image exists, has a kernel and an initramfs, was
# built with vm_packages, and carries this tree's agent and etcd. make build
# rewrites bin/etcdboot-agent (and so its mtime) on every run, so the
# contents decide, as for make e2e-image.
image_current() {
  [[ -s "$raw" && -s "$image_dir/manifest.json" ]] || return 1
  compgen -G "$rootfs/boot/vmlinuz-*" >/dev/null || return 1
  compgen -G "$rootfs/boot/initrd.img-*" >/dev/null || return 1
  local p
  for p in "${vm_packages[@]}"; do
    grep -q "\"$p\"" "$image_dir/manifest.json" || return 1
  done
  local b
  for b in etcdboot-agent etcd etcdctl etcdutl; do
    cmp -s "$bin/$b" "$rootfs/usr/local/bin/$b" || return 1
  done
  # The raw image is exported after the rootfs is final.
  [[ "$raw" -nt "$rootfs/usr/local/bin/etcdboot-agent" ]]
}

if [[ "${E2E_VM_REBUILD:-0}" != 1 ]] && image_current; then
  log "reusing the VM image in ${image_dir#"$root"/} (E2E_VM_REBUILD=1 rebuilds it)"
else
  [[ $(id -u) -eq 0 ]] || die "building the VM image needs root (mmdebstrap, chroot)"
  log "building the VM image into ${image_dir#"$root"/} (packer, with ${vm_packages[*]})"
  mkdir -p "$(dirname "$image_dir")"
  start=$SECONDS
  "$bin/packer" build -force \
    -var raw_image=true -var tarball=false \
    -var "output_dir=$image_dir" -var "bin_dir=$bin" -var "etcd_version=$etcd_version" \
    -var "extra_packages=[$(printf '"%s",' "${vm_packages[@]}" | sed 's/,$//')]" \
    "$root/images/packer/local-rootfs.pkr.hcl"
  log "image built in $((SECONDS - start))s"
fi

kernels=("$rootfs"/boot/vmlinuz-*)
kernel="${kernels[-1]}"
kver="${kernel##*/vmlinuz-}"
initrd="$rootfs/boot/initrd.img-$kver"
[[ -f "$kernel" ]] || die "no kernel in $rootfs/boot: was the image built with extra_packages ${vm_packages[*]}?"
[[ -s "$initrd" ]] || die "no initramfs $initrd: initramfs-tools did not run in the image build"
log "kernel $kver, image $(du -h --apparent-size "$raw" | cut -f1) ($(du -h "$raw" | cut -f1) used)"

# --- 2. The cluster and its NoCloud seed ------------------------------------

tmp="$(mktemp -d "${TMPDIR:-/tmp}/etcdboot-e2e-vm.XXXXXX")"
qemu_pid=""
drain_pid=""
passed=0
cleanup() {
  local rc=$?
  if [[ -n "$qemu_pid" ]]; then
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  if [[ -n "$drain_pid" ]]; then
    kill "$drain_pid" 2>/dev/null || true
    wait "$drain_pid" 2>/dev/null || true
  fi
  if [[ $passed != 1 && -s "$tmp/serial.log" ]]; then
    echo "e2e-vm: last 80 lines of the serial console:" >&2
    tail -n 80 "$tmp/serial.log" | tr -d '\r' >&2
  fi
  if [[ "${E2E_VM_KEEP:-0}" == 1 ]]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 2379 is open to firewall.clientCIDRs: QEMU's user networking delivers the
# forwarded connections from its gateway, 10.0.2.2.
cat >"$tmp/cluster.yaml" <<EOF
apiVersion: etcdboot/v1
name: e2e-vm
token: e2e-vm-1
etcd:
  version: $etcd_version
discovery:
  mode: static
members:
  - name: $member
    ips: [$guest_ip]
firewall:
  clientCIDRs: [10.0.2.0/24]
  monitoringCIDRs: [10.0.2.0/24]
payload:
  formats: [cloud-init]
EOF
gen_out="$("$bin/etcdboot" generate -f "$tmp/cluster.yaml" -o "$tmp/out" 2>&1)" || {
  printf '%s\n' "$gen_out" >&2
  die "etcdboot generate failed"
}
pki="$tmp/out/pki"

mkdir "$tmp/seed"
cp "$tmp/out/nodes/$member/user-data" "$tmp/seed/user-data"
printf 'instance-id: %s-%s\nlocal-hostname: %s\n' "$member" "$(date +%s)" "$member" >"$tmp/seed/meta-data"
if command -v xorriso >/dev/null; then
  xorriso -as mkisofs -quiet -output "$tmp/seed.iso" -volid cidata -joliet -rock \
    "$tmp/seed/user-data" "$tmp/seed/meta-data" 2>/dev/null
elif command -v cloud-localds >/dev/null; then
  cloud-localds "$tmp/seed.iso" "$tmp/seed/user-data" "$tmp/seed/meta-data"
else
  genisoimage -quiet -output "$tmp/seed.iso" -volid cidata -joliet -rock \
    "$tmp/seed/user-data" "$tmp/seed/meta-data"
fi

# --- 3. Boot ----------------------------------------------------------------

# kvm_usable: /dev/kvm opens, the CPU shows VT-x or AMD-V, and QEMU can
# create a VM with it. (A /dev/kvm without them can pass QEMU's check and
# then fail on the guest's first instructions.)
kvm_usable() {
  [[ -r /dev/kvm && -w /dev/kvm ]] || return 1
  grep -qwE 'vmx|svm' /proc/cpuinfo || return 1
  echo quit | timeout 30 qemu-system-x86_64 -machine none -accel kvm -nodefaults \
    -display none -monitor stdio >/dev/null 2>&1
}

accel="${E2E_VM_ACCEL:-}"
auto_accel=0
if [[ -z "$accel" ]]; then
  auto_accel=1
  accel=tcg
  if kvm_usable; then accel=kvm; fi
fi
case "$accel" in
kvm | tcg) ;;
*) die "E2E_VM_ACCEL=$accel: use kvm or tcg" ;;
esac

# free_port prints a TCP port nothing on this host listens on, other than $1.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 20000))
    [[ $p != "${1:-}" ]] || continue
    if ! ss -Hltn "sport = :$p" | grep -q .; then
      echo "$p"
      return 0
    fi
  done
  die "found no free host port; set E2E_VM_PORT"
}
port="${E2E_VM_PORT:-$(free_port)}"
# The peer port, forwarded too: the firewall must keep this host out of it.
peer_port="$(free_port "$port")"

mkfifo "$tmp/monitor.in" "$tmp/monitor.out"

# boot starts QEMU under accel $1 on a fresh throwaway overlay of the raw
# image (the built image stays as it is), the serial console in serial.log.
boot() {
  local accel=$1 cpu=max
  [[ $accel == kvm ]] && cpu=host
  rm -f "$tmp/disk.qcow2"
  qemu-img create -q -f qcow2 -F raw -b "$raw" "$tmp/disk.qcow2"
  : >"$tmp/serial.log"
  log "booting under $accel (client port 127.0.0.1:$port -> $guest_ip:2379; serial console in $tmp/serial.log)"
  boot_start=$SECONDS
  qemu-system-x86_64 \
    -machine q35 -accel "$accel" -cpu "$cpu" -m 1024 -smp 2 \
    -nographic -serial "file:$tmp/serial.log" -monitor "pipe:$tmp/monitor" \
    -no-reboot \
    -kernel "$kernel" -initrd "$initrd" \
    -append "root=/dev/vda rw console=ttyS0 panic=-1" \
    -drive "file=$tmp/disk.qcow2,format=qcow2,if=virtio" \
    -drive "file=$tmp/seed.iso,format=raw,if=virtio,readonly=on" \
    -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-$guest_ip:2379,hostfwd=tcp:127.0.0.1:$peer_port-$guest_ip:2380" \
    -device virtio-net-pci,netdev=n0 \
    </dev/null >"$tmp/qemu.log" 2>&1 &
  qemu_pid=$!
}

# monitor sends a command to the QEMU monitor; opening the FIFO read-write
# never blocks, even when QEMU is gone.
monitor() { printf '%s\n' "$1" 1<>"$tmp/monitor.in"; }

stop_qemu() {
  [[ -n "$qemu_pid" ]] || return 0
  if kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null || true
  fi
  wait "$qemu_pid" 2>/dev/null || true
  qemu_pid=""
}

# Drains the monitor's output so that QEMU never blocks on a full pipe.
cat 0<>"$tmp/monitor.out" >/dev/null &
drain_pid=$!

boot "$accel"

# --- 4. Wait for the member -------------------------------------------------

status=(
  "$bin/etcdboot" status --endpoints "https://127.0.0.1:$port"
  --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" --timeout 5s
)
timeout_s="${E2E_VM_TIMEOUT:-}"
deadline=$((SECONDS + ${timeout_s:-600}))
[[ -z "$timeout_s" && $accel == kvm ]] && deadline=$((SECONDS + 300))
healthy=""
out=""
next_note=$((SECONDS + 60))
while ((SECONDS < deadline)); do
  if ! kill -0 "$qemu_pid" 2>/dev/null; then
    cat "$tmp/qemu.log" >&2
    die "QEMU exited before the member was healthy"
  fi
  # A KVM that cannot run this guest stops it (internal error) or never
  # gets the kernel to the console.
  if [[ $accel == kvm ]] && { grep -q 'KVM internal error' "$tmp/qemu.log" ||
    { ((SECONDS - boot_start > 120)) && ! grep -q 'Linux version' "$tmp/serial.log"; }; }; then
    head -n 3 "$tmp/qemu.log" >&2
    ((auto_accel)) || die "KVM cannot boot the guest here; try E2E_VM_ACCEL=tcg"
    log "KVM cannot boot the guest here; falling back to TCG"
    stop_qemu
    cp "$tmp/serial.log" "$tmp/serial-kvm.log"
    accel=tcg
    boot tcg
    deadline=$((SECONDS + ${timeout_s:-600}))
    next_note=$((SECONDS + 60))
    continue
  fi
  if out="$("${status[@]}" 2>&1)"; then
    healthy="$out"
    break
  fi
  if ((SECONDS >= next_note)); then
    log "waiting for the member ($((SECONDS - boot_start))s)"
    next_note=$((SECONDS + 60))
  fi
  sleep 5
done
if [[ -z "$healthy" ]]; then
  log "last status attempt:"
  printf '%s\n' "$out" >&2
  die "the member was not healthy within $((SECONDS - boot_start))s under $accel"
fi
boot_s=$((SECONDS - boot_start))
printf '%s\n' "$healthy"
grep -q "127.0.0.1:$port" <<<"$healthy" || die "the status table has no row for the member"
log "member $member healthy ${boot_s}s after QEMU started ($accel)"

# The agent's nftables table admits 2380 from the peers only: QEMU's gateway
# (10.0.2.2) gets no TLS answer there, though etcd listens on it.
peer_answer="$(timeout 10 openssl s_client -connect "127.0.0.1:$peer_port" </dev/null 2>&1 || true)"
if grep -q 'BEGIN CERTIFICATE\|Server certificate' <<<"$peer_answer"; then
  die "the peer port answered a non-peer (10.0.2.2): the agent's firewall is not in force"
fi
log "peer port 2380 closed to non-peers (firewall in force)"

# --- Power off --------------------------------------------------------------

log "powering the VM off (ACPI)"
off_start=$SECONDS
monitor system_powerdown
for _ in $(seq 120); do
  kill -0 "$qemu_pid" 2>/dev/null || break
  sleep 1
done
if kill -0 "$qemu_pid" 2>/dev/null; then
  log "no ACPI shutdown within 120s; stopping QEMU"
  monitor quit
  sleep 2
else
  log "powered off $((SECONDS - off_start))s after the request"
fi
stop_qemu
passed=1
log "ok: member healthy ${boot_s}s after boot under $accel"
