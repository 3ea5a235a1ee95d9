# SPDX-License-Identifier: Apache-2.0
"""The project's guest kernel has what sandboxes and later features need."""


def test_project_kernel_features(msb, shared):
    script = r"""
set -e
fs=$(cat /proc/filesystems)
for f in ext4 erofs overlay fuse virtiofs tmpfs devpts cgroup2 proc sysfs; do
    echo "$fs" | grep -qw "$f" || { echo "missing fs $f"; exit 1; }
done
grep -q '^Seccomp:' /proc/self/status || { echo "no seccomp"; exit 1; }
mkdir -p /tmp/cg && mount -t cgroup2 none /tmp/cg && test -e /tmp/cg/cgroup.controllers
for c in memory pids cpuset; do
    grep -qw $c /tmp/cg/cgroup.controllers || { echo "missing cgroup $c"; exit 1; }
done
umount /tmp/cg
unshare -U -n -p -f -m -u -i true || { echo "namespaces"; exit 1; }
test -c /dev/vsock || test -e /sys/module/vsock || ls /sys/bus/virtio/drivers | grep -q vsock
test -d /sys/bus/virtio/drivers/virtio_net || { echo "no virtio_net"; exit 1; }
test -e /dev/shm && test -e /dev/pts/ptmx
ip link show lo | grep -q UP
echo features-ok
"""
    p = msb("exec", shared, "--", "sh", "-c", script)
    assert p.returncode == 0 and p.stdout.endswith(b"features-ok\n"), p


def test_guest_clock_keeps_time(msb, shared):
    # Under TCG the guest TSC is the host's: a wrong rate on the kernel
    # command line would make 3 s of host time read as 2.3 or 3.9.
    import time
    t0 = time.time()
    p = msb("exec", shared, "--", "sh", "-c",
            "a=$(cut -d' ' -f1 /proc/uptime); sleep 3; b=$(cut -d' ' -f1 /proc/uptime); "
            "echo $a $b")
    host = time.time() - t0
    a, b = map(float, p.stdout.split())
    assert 2.7 < b - a < host + 0.3, (a, b, host)
