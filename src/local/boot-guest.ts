/**
 * The scripts the boot proof runs on the guest over SSH, as the responder. Each prints `key=value`
 * marker lines that boot-checks.ts judges; anything else on the output (warnings) is ignored.
 */

export const EVIDENCE_DISK = "/dev/disk/by-id/virtio-ops-rig-evidence";
export const CAPTURE_FILE = "/var/tmp/ops-rig-boot-capture.lime";

export const HOST_KEYS_SCRIPT = `echo "btime=$(awk '/^btime/ {print $2}' /proc/stat)"
for f in /etc/ssh/ssh_host_*_key.pub; do
  [ -e "$f" ] || continue
  echo "key=$f $(ssh-keygen -lf "$f" | awk '{print $2}') $(stat -c %Y "\${f%.pub}")"
done
`;

export const SUDO_SCRIPT = `echo "sudo-uid=$(sudo -n id -u)"
echo "groups=$(id -Gn)"
`;

/** Loads the image's LiME for the booted kernel, then walks the capture's headers (run as root). */
export const LIME_SCRIPT = `set -u
kernel="$(uname -r)"
module="/opt/lime/lime-$kernel.ko"
echo "kernel=$kernel"
if [ ! -f "$module" ]; then echo "error=no LiME module for the booted kernel $kernel ($module is missing)"; exit 3; fi
rm -f ${CAPTURE_FILE}
if ! insmod "$module" "path=${CAPTURE_FILE} format=lime"; then echo "error=insmod $module failed"; exit 4; fi
rmmod lime || true
python3 - <<'EOF'
import os
path = "${CAPTURE_FILE}"
size = os.path.getsize(path)
print("size", size)
offset = 0
with open(path, "rb") as f:
    # Only seek from header to header; the host decides whether they are valid LiME headers.
    while offset < size:
        f.seek(offset)
        header = f.read(32)
        print("header", offset, header.hex())
        if len(header) < 32 or header[:4] != b"EMiL":
            break
        start = int.from_bytes(header[8:16], "little")
        end = int.from_bytes(header[16:24], "little")
        offset += 32 + (end - start + 1)
EOF
rm -f ${CAPTURE_FILE}
echo "iomem-begin"
cat /proc/iomem
echo "iomem-end"
`;

export const LIME_BUILD_SCRIPT = `set -u
kernel="$(uname -r)"
out="$(sudo -n /usr/local/sbin/lime-build "$kernel" 2>&1)"
echo "rc=$?"
echo "$out" | tail -n 1 | sed 's/^/out=/'
echo "vermagic=$(/usr/sbin/modinfo -F vermagic "/opt/lime/lime-$kernel.ko" 2>/dev/null | awk '{print $1}')"
echo "kernel=$kernel"
`;

/** tcpdump and tshark each capture UDP sent to the host, and each reads the other's capture. */
export const CAPTURE_SCRIPT = `set -u
ifc="$(ip -o route get 10.0.2.2 | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p')"
echo "interface=$ifc"
( while :; do echo ops-rig-boot > /dev/udp/10.0.2.2/9 2>/dev/null; sleep 0.3; done ) &
sender=$!
sudo -n timeout 90 tcpdump -i "$ifc" -n -c 3 -w /tmp/ops-rig-tcpdump.pcap 'udp and dst port 9' >/dev/null 2>&1
echo "tcpdump-rc=$?"
sudo -n timeout 90 tshark -i "$ifc" -n -c 3 -f 'udp and dst port 9' -w /tmp/ops-rig-tshark.pcap >/dev/null 2>&1
echo "tshark-rc=$?"
kill "$sender"
echo "tshark-reads-tcpdump=$(sudo -n tshark -r /tmp/ops-rig-tcpdump.pcap -Y 'udp.dstport == 9' 2>/dev/null | wc -l)"
echo "tcpdump-reads-tshark=$(sudo -n tcpdump -n -r /tmp/ops-rig-tshark.pcap 'udp and dst port 9' 2>/dev/null | wc -l)"
`;

export const FLS_SCRIPT = `set -eu
dir="$(mktemp -d)"
mkdir "$dir/content"
echo "ops-rig boot proof" > "$dir/content/ops-rig-evidence.txt"
/usr/sbin/mkfs.ext4 -q -F -d "$dir/content" "$dir/small.img" 8M
fls -r "$dir/small.img" | sed 's/^/fls=/'
rm -rf "$dir"
`;

// systemctl through sudo: without D-Bus (the base has none) only root reaches systemd.
export const BREAK_GLASS_SCRIPT = `echo "active-enter=$(sudo -n systemctl show -p ExecMainStartTimestampMonotonic --value ops-rig-break-glass.service)"
echo "timer=$(sudo -n systemctl is-active ops-rig-break-glass.timer)"
sudo -n journalctl -b --no-pager -o cat -t ops-rig-break-glass | tail -n 3 | sed 's/^/log=/'
`;

export const AUDITD_SCRIPT = `echo "active=$(sudo -n systemctl is-active auditd.service)"
sudo -n auditctl -l | sed 's/^/rule=/'
`;

/**
 * An evidence volume appears: a volume group on the second disk, deactivated, then announced to
 * udev as a new disk (what an attach does) and handed to the exact activation command LVM's event
 * path runs. It must stay inactive.
 */
export const EVIDENCE_SCRIPT = `set -u
dev="${EVIDENCE_DISK}"
if [ ! -e "$dev" ]; then echo "error=no evidence disk at $dev"; exit 3; fi
sudo -n pvcreate -qq -y -ff "$dev" || { echo "error=pvcreate failed"; exit 3; }
sudo -n vgcreate -qq ops-rig-evidence "$dev" || { echo "error=vgcreate failed"; exit 3; }
sudo -n lvcreate -qq -y -an -Zn -L 8M -n case ops-rig-evidence || { echo "error=lvcreate failed"; exit 3; }
echo "before=$(sudo -n lvs --noheadings -o lv_active ops-rig-evidence/case | tr -d ' ')"
sudo -n udevadm trigger --action=add --settle "$(readlink -f "$dev")"
sudo -n udevadm settle
sudo -n vgchange -aay --autoactivation event ops-rig-evidence >/dev/null 2>&1
echo "after=$(sudo -n lvs --noheadings -o lv_active ops-rig-evidence/case | tr -d ' ')"
echo "setting=$(sudo -n lvmconfig activation/auto_activation_volume_list 2>&1)"
`;

/** Puts the responder's key into root's authorized_keys (so only sshd's policy can refuse root). */
export function rootKeyScript(publicKey: string, add: boolean): string {
  const line = publicKey.trim();
  return add
    ? `sudo -n install -d -m 0700 /root/.ssh && echo '${line}' | sudo -n tee -a /root/.ssh/authorized_keys >/dev/null && echo added=yes`
    : `sudo -n sed -i '\\|${line.split(" ")[1] ?? "-"}|d' /root/.ssh/authorized_keys; echo removed=yes`;
}
