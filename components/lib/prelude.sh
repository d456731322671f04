# ops-rig prelude: the renderer puts these lines at the top of every ExecuteBash step (comment and
# blank lines are dropped), so each step fails fast, never prompts, and shares one way of using apt.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a NEEDRESTART_SUSPEND=1
# ID, VERSION_ID and VERSION_CODENAME say which OS this is: branch on them, never assume Ubuntu.
. /etc/os-release
# Wait for cloud-init's or unattended-upgrades' apt lock instead of failing; retry downloads.
apt_get() { apt-get -q -y -o DPkg::Lock::Timeout=600 -o Acquire::Retries=5 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"; }
# Error-Mode=any: an unreachable mirror fails the step instead of leaving stale lists behind.
apt_update() { apt_get -o APT::Update::Error-Mode=any update; }
apt_install() { apt_get install --no-install-recommends "$@"; }
is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
