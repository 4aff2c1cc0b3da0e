#!/bin/bash
# (The project's copy of ../shared/tools/run-in-vm.sh, used by test/vm/run.mjs; it also shows the
# guest console's tail when the VM times out.)
# run-in-vm.sh - run a command inside a throw-away QEMU guest running a stock
# Debian kernel (which has CONFIG_KPROBES / KPROBE_EVENTS / UPROBE_EVENTS), with
# the host's root filesystem as the guest's root (read-only 9p + tmpfs overlay,
# so writes outside the work dir are discarded) and the current directory
# shared read-write at the same path.
#
#   usage: run-in-vm.sh [--] CMD [ARGS...]
#
# CMD's stdout/stderr are streamed to this script's stdout/stderr; the exit
# status is CMD's exit status (124 = VM timed out, 125 = VM/setup failure).
# stdin of CMD is /dev/null. CMD runs as root inside the guest, in $PWD, with
# the caller's exported environment (minus a few shell-internal variables) and
# RUN_IN_VM=1.  tracefs is mounted at /sys/kernel/tracing, debugfs at
# /sys/kernel/debug.
#
# Dependencies (Debian 12 package names):
#   qemu-system-x86 (qemu-system-x86_64; `apt-get install --no-install-recommends` is enough)
#   busybox-static  (/bin/busybox, copied into the initramfs)
#   xz-utils, coreutils, grep, bash, dpkg, apt (apt only on first run, to fetch the kernel)
# The kernel package (linux-image-<ver>-amd64-unsigned) is fetched with
# `apt-get download` on first use and unpacked into $VM_CACHE; nothing is
# installed into /boot and the bootloader is not touched.
#
# Environment knobs:
#   VM_ACCEL    auto|kvm|tcg   (auto: kvm only if /dev/kvm is usable AND the CPU
#                               advertises vmx/svm; otherwise TCG emulation)
#   VM_MEM      guest RAM (default 2G)       VM_SMP  vCPUs (default 1)
#   VM_CPU      QEMU -cpu model (default: host with KVM, max with TCG)
#   VM_TIMEOUT  seconds before the VM is killed (default 1800; exit 124)
#   VM_WORKDIR  directory shared read-write (default: $PWD; must not be /)
#   VM_CACHE    kernel/initramfs cache dir (default /var/cache/run-in-vm if
#               writable, else ${XDG_CACHE_HOME:-$HOME/.cache}/run-in-vm)
#   VM_KERNEL_PKG  e.g. linux-image-6.1.0-50-amd64-unsigned (default: newest
#               linux-image-*-amd64-unsigned known to apt-cache)
#   VM_WORK_CACHE  9p cache mode of the work dir: mmap (default; coherent with
#               the host, supports shared mmap) or loose (faster repeated reads)
#   VM_APPEND   extra kernel command-line arguments
#   VM_VERBOSE=1  copy the guest console (kernel log) to stderr after the run
#   VM_KEEP=1     keep the per-run temp dir (console.log etc.)
set -u -o pipefail

die() { echo "run-in-vm: $*" >&2; exit 125; }
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
[ $# -gt 0 ] || die "usage: run-in-vm.sh [--] CMD [ARGS...]"

for t in qemu-system-x86_64 xz dpkg-deb timeout tail mktemp sha1sum; do
  command -v "$t" >/dev/null || die "missing '$t' (apt-get install qemu-system-x86 busybox-static xz-utils)"
done
BUSYBOX=${VM_BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] && "$BUSYBOX" --list 2>/dev/null | grep -qx switch_root \
  || die "need a static busybox at $BUSYBOX (apt-get install busybox-static)"

VM_MEM=${VM_MEM:-2G}; VM_SMP=${VM_SMP:-1}; VM_TIMEOUT=${VM_TIMEOUT:-1800}
WORKDIR=$(cd "${VM_WORKDIR:-$PWD}" && pwd -P) || die "bad VM_WORKDIR"
[ "$WORKDIR" != / ] || die "refusing to share / read-write; cd somewhere else or set VM_WORKDIR"
CWD=$(pwd -P)

if [ -z "${VM_CACHE:-}" ]; then
  if mkdir -p /var/cache/run-in-vm 2>/dev/null && [ -w /var/cache/run-in-vm ]; then
    VM_CACHE=/var/cache/run-in-vm
  else
    VM_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/run-in-vm
  fi
fi
mkdir -p "$VM_CACHE" || die "cannot create $VM_CACHE"

# ---------------------------------------------------------------- kernel ---
WANT_MODS="virtio_pci 9pnet_virtio 9p overlay virtio_console"
setup_kernel() {  # -> sets KDIR (contains vmlinux, config, modules/*.ko)
  local pkg=${VM_KERNEL_PKG:-}
  if [ -z "$pkg" ]; then
    local cur; cur=$(ls -d "$VM_CACHE"/k-* 2>/dev/null | sort -V | tail -1)
    if [ -n "$cur" ] && [ -f "$cur/vmlinux" ]; then KDIR=$cur; return 0; fi
    pkg=$(apt-cache pkgnames linux-image- 2>/dev/null \
          | grep -E '^linux-image-[0-9.]+-[0-9]+-amd64-unsigned$' | sort -V | tail -1)
    [ -n "$pkg" ] || die "no linux-image-*-amd64-unsigned in apt-cache (run apt-get update?)"
  fi
  KDIR=$VM_CACHE/k-${pkg#linux-image-}
  [ -f "$KDIR/vmlinux" ] && return 0
  echo "run-in-vm: preparing kernel $pkg in $KDIR (one-time)..." >&2
  local tmp; tmp=$(mktemp -d "$VM_CACHE/.dl.XXXXXX") || die "mktemp"
  ( cd "$tmp" && apt-get download "$pkg" >&2 ) || { rm -rf "$tmp"; die "apt-get download $pkg failed"; }
  dpkg-deb -x "$tmp"/*.deb "$tmp/x" || { rm -rf "$tmp"; die "dpkg-deb -x failed"; }
  local vmlinuz cfg kver off
  vmlinuz=$(ls "$tmp"/x/boot/vmlinuz-* | head -1); cfg=$(ls "$tmp"/x/boot/config-* | head -1)
  kver=${vmlinuz##*/vmlinuz-}
  grep -q '^CONFIG_KPROBE_EVENTS=y' "$cfg" || echo "run-in-vm: warning: $pkg lacks CONFIG_KPROBE_EVENTS" >&2
  mkdir -p "$tmp/k/modules"
  # Uncompressed ELF vmlinux => QEMU boots it through the PVH entry point,
  # skipping the (slow under TCG) real-mode setup and decompressor.
  off=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
  local xzrc=1
  if [ -n "$off" ]; then   # (tail gets SIGPIPE when xz stops after the stream: ignore it)
    tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream > "$tmp/k/vmlinux" 2>/dev/null
    xzrc=${PIPESTATUS[1]}
  fi
  if [ "$xzrc" != 0 ] || [ "$(head -c 4 "$tmp/k/vmlinux" | od -An -tx1 | tr -d ' \n')" != 7f454c46 ]; then
    echo "run-in-vm: could not extract ELF vmlinux; booting the bzImage (slower)" >&2
    cp "$vmlinuz" "$tmp/k/vmlinux"
  fi
  cp "$cfg" "$tmp/k/config"; echo "$kver" > "$tmp/k/release"
  # copy the wanted modules plus their dependencies (from .modinfo depends=),
  # and record a load order (dependencies first) in modules/order
  local m order=""
  addmod() {
    local f d
    case " $order " in *" $1 "*) return 0;; esac
    f=$(find "$tmp/x/lib/modules/$kver/kernel" -name "$1.ko" | head -1)
    [ -n "$f" ] || { echo "module $1.ko not in $pkg" >&2; return 1; }
    for d in $(grep -a -o 'depends=[a-z0-9_,-]*' "$f" | head -1 | cut -d= -f2 | tr ',' ' '); do
      addmod "$d" || return 1
    done
    cp "$f" "$tmp/k/modules/"; order="$order $1"
  }
  for m in $WANT_MODS; do addmod "$m" || { rm -rf "$tmp"; die "module setup failed"; }; done
  echo $order > "$tmp/k/modules/order"
  rm -rf "$KDIR"; mv "$tmp/k" "$KDIR"; rm -rf "$tmp"
}
{ exec 9>>"$VM_CACHE/.lock"; } 2>/dev/null && flock 9 2>/dev/null   # serialise first-run setup
setup_kernel
flock -u 9 2>/dev/null || true

# -------------------------------------------------------------- initramfs ---
read -r -d '' INIT <<'INIT_EOF'
#!/bin/busybox sh
# stage-1 init (PID 1) of run-in-vm
B=/bin/busybox
$B mount -t proc proc /proc; $B mount -t sysfs sys /sys; $B mount -t devtmpfs dev /dev
exec </dev/null >/dev/ttyS0 2>&1
log() { echo "run-in-vm[$($B cut -d' ' -f1 /proc/uptime)]: $*"; }
die() { log "FATAL: $*"; $B echo 125 > /ctl/rc 2>/dev/null; $B sync; $B poweroff -f; }
log "init started"
for m in $($B cat /lib/modules/order); do $B insmod /lib/modules/$m.ko || log "insmod $m failed"; done
log "modules loaded"
O9=trans=virtio,version=9p2000.L,msize=512000
$B mkdir -p /ctl /lower /rw /newroot
$B mount -t 9p -o $O9,cache=none vmctl /ctl || die "mount vmctl"
WORKDIR=$($B cat /ctl/workdir); WCACHE=$($B cat /ctl/workcache)
$B mount -t 9p -o $O9,ro,cache=loose hostroot /lower || die "mount hostroot"
$B mount -t tmpfs -o mode=755 rw /rw; $B mkdir -p /rw/upper /rw/work
$B mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || die "overlay"
N=/newroot
$B mount -t proc proc $N/proc; $B mount -t sysfs sys $N/sys; $B mount -t devtmpfs dev $N/dev
$B mount -t tmpfs -o mode=1777 tmp $N/tmp; $B mount -t tmpfs -o mode=755 run $N/run
$B mkdir -p $N/run/vmctl $N/dev/pts $N/dev/shm
$B mount -t devpts -o ptmxmode=666 devpts $N/dev/pts; $B mount -t tmpfs -o mode=1777 shm $N/dev/shm
$B mount -t tracefs nodev $N/sys/kernel/tracing; $B mount -t debugfs nodev $N/sys/kernel/debug
$B mount -t cgroup2 none $N/sys/fs/cgroup 2>/dev/null
$B mkdir -p "$N$WORKDIR"
$B mount -t 9p -o $O9,cache=$WCACHE work "$N$WORKDIR" || die "mount work dir $WORKDIR"
$B mount --bind /ctl $N/run/vmctl
$B ip link set lo up; $B hostname run-in-vm
i=0; while [ $i -lt 250 ] && ! $B grep -qx stderr /sys/class/virtio-ports/*/name 2>/dev/null; do $B usleep 20000; i=$((i+1)); done
OUT=/dev/null; ERR=/dev/null
for p in /sys/class/virtio-ports/*; do
  case $($B cat $p/name) in stdout) OUT=$N/dev/${p##*/};; stderr) ERR=$N/dev/${p##*/};; esac
done
log "starting command"
$B chroot $N /bin/bash /run/vmctl/cmd.sh </dev/null >$OUT 2>$ERR
rc=$?
log "command exited with $rc"
$B sync; $B umount "$N$WORKDIR" 2>/dev/null
$B echo $rc > /ctl/rc; $B sync
$B poweroff -f
INIT_EOF
INITRD=$VM_CACHE/initrd-$( { echo "$INIT"; cat "$KDIR/release" "$KDIR/modules/order"; sha1sum "$BUSYBOX"; } | sha1sum | cut -c1-12).cpio
if [ ! -f "$INITRD" ]; then
  st=$(mktemp -d "$VM_CACHE/.ird.XXXXXX") || die mktemp
  mkdir -p "$st"/{bin,proc,sys,dev,lib/modules}
  cp "$BUSYBOX" "$st/bin/busybox"; cp "$KDIR"/modules/* "$st/lib/modules/"
  printf '%s\n' "$INIT" > "$st/init"; chmod 755 "$st/init"
  ( cd "$st" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null ) > "$INITRD.tmp" && mv "$INITRD.tmp" "$INITRD"
  rm -rf "$st"; [ -f "$INITRD" ] || die "initramfs build failed"
fi

# ---------------------------------------------------------------- per run ---
T=$(mktemp -d "${TMPDIR:-/tmp}/run-in-vm.XXXXXX") || die mktemp
QPID=; TPIDS=
cleanup() {
  [ -n "$QPID" ] && kill "$QPID" 2>/dev/null
  for p in $TPIDS; do kill "$p" 2>/dev/null; done
  [ "${VM_KEEP:-0}" = 1 ] && echo "run-in-vm: kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT; trap 'exit 143' TERM

mkdir "$T/ctl"; printf '%s\n' "$WORKDIR" > "$T/ctl/workdir"; echo "${VM_WORK_CACHE:-mmap}" > "$T/ctl/workcache"
{
  export -p | grep -vE '^declare -[-a-zA-Z]* (BASHOPTS|SHELLOPTS|BASH_[A-Z_]*|EUID|UID|PPID|PWD|OLDPWD|SHLVL|_|HOSTNAME)(=|$)'
  echo 'export RUN_IN_VM=1'
  printf 'cd %q || exit 126\n' "$CWD"
  printf 'exec'; printf ' %q' "$@"; echo
} > "$T/ctl/cmd.sh"
: > "$T/out"; : > "$T/err"

ACCEL=${VM_ACCEL:-auto}
if [ "$ACCEL" = auto ]; then
  ACCEL=tcg
  [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && ACCEL=kvm
fi
if [ "$ACCEL" = kvm ]; then CPU=${VM_CPU:-host}; else CPU=${VM_CPU:-max}; fi
esc() { printf '%s' "${1//,/,,}"; }    # QEMU option-value escaping

timeout -s TERM "$VM_TIMEOUT" qemu-system-x86_64 \
  -accel "$ACCEL" -machine q35 -cpu "$CPU" -m "$VM_MEM" -smp "$VM_SMP" \
  -display none -no-reboot -nodefaults -no-user-config \
  -serial "file:$T/console.log" \
  -kernel "$KDIR/vmlinux" -initrd "$INITRD" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init mitigations=off cryptomgr.notests ${VM_APPEND:-}" \
  -fsdev "local,id=fsroot,path=/,security_model=none,readonly=on,multidevs=remap" \
  -device virtio-9p-pci,fsdev=fsroot,mount_tag=hostroot \
  -fsdev "local,id=fsctl,path=$(esc "$T/ctl"),security_model=none" \
  -device virtio-9p-pci,fsdev=fsctl,mount_tag=vmctl \
  -fsdev "local,id=fswork,path=$(esc "$WORKDIR"),security_model=none,multidevs=remap" \
  -device virtio-9p-pci,fsdev=fswork,mount_tag=work \
  -device virtio-serial-pci,id=vs,max_ports=3 \
  -chardev "file,id=out,path=$(esc "$T/out")" -device virtserialport,bus=vs.0,chardev=out,name=stdout \
  -chardev "file,id=err,path=$(esc "$T/err")" -device virtserialport,bus=vs.0,chardev=err,name=stderr \
  </dev/null >"$T/qemu.log" 2>&1 &
QPID=$!
tail -n +1 -s 0.2 -f --pid=$QPID "$T/out" & TPIDS="$TPIDS $!"
tail -n +1 -s 0.2 -f --pid=$QPID "$T/err" >&2 & TPIDS="$TPIDS $!"
wait $QPID; qrc=$?; QPID=
for p in $TPIDS; do wait "$p"; done; TPIDS=

[ "${VM_VERBOSE:-0}" = 1 ] && { echo "---- guest console ----"; cat "$T/console.log"; } >&2
if [ -s "$T/ctl/rc" ]; then
  exit "$(cat "$T/ctl/rc")"
fi
if [ $qrc -eq 124 ]; then
  { echo "run-in-vm: VM timed out after ${VM_TIMEOUT}s"; echo "---- guest console (tail) ----"; tail -n 60 "$T/console.log"; } >&2
  exit 124
fi
{ echo "run-in-vm: VM ended without reporting an exit status (qemu rc=$qrc)";
  tail -n 20 "$T/qemu.log"; echo "---- guest console (tail) ----"; tail -n 40 "$T/console.log"; } >&2
exit 125
