#!/usr/bin/env bash
# A single-node Slurm on this Debian machine, for the Slurm tests (tests/test_slurm.py).
#
#   bash tests/slurm/local_slurm.sh start    # install slurm-wlm and munge if missing, start them, wait until the node is idle
#   bash tests/slurm/local_slurm.sh stop     # stop slurmd, slurmctld and munged
#
# Idempotent: starting a running cluster only checks it. One node with this machine's CPUs and
# memory, one partition "debug", no accounting database (sacct then has nothing to report).
# Needs root (it installs packages and runs the daemons); prints one line on failure and exits 1.
set -euo pipefail
action=${1:-start}
conf=/etc/slurm/slurm.conf
node=$(hostname -s)

stop_daemons() {  # stop the named daemons and wait until they are gone
    for daemon in "$@"; do pkill -x "$daemon" 2>/dev/null || true; done
    for _ in $(seq 30); do
        running=0
        for daemon in "$@"; do pgrep -x "$daemon" >/dev/null && running=1; done
        [ "$running" = 0 ] && return 0
        sleep 0.5
    done
}

stop() { stop_daemons slurmd slurmctld munged; }

fail() { echo "local_slurm: $*" >&2; exit 1; }

if [ "$action" = stop ]; then stop; exit 0; fi
[ "$action" = start ] || fail "unknown action '$action'; expected start or stop"
[ "$(id -u)" = 0 ] || fail "needs root to install and start Slurm"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || fail "slurm-wlm is not installed and there is no apt-get to install it"
    echo "local_slurm: installing slurm-wlm and munge" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null || fail "apt-get install slurm-wlm munge failed"
fi

# munge: the authentication Slurm's daemons and clients share
if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null 2>&1; else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
fi
chown munge:munge /etc/munge/munge.key 2>/dev/null || true
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown -R munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force || fail "munged did not start"
fi

memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p /etc/slurm /var/spool/slurmd /var/spool/slurmctld /var/log/slurm
wanted=$(cat <<CONF
# written by tests/slurm/local_slurm.sh
ClusterName=gildtest
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=600
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$node CPUs=$(nproc) RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=120 State=UP
CONF
)
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$wanted" ]; then
    echo "$wanted" > "$conf"
    stop_slurm=1
fi
if [ "${stop_slurm:-0}" = 1 ]; then stop_daemons slurmd slurmctld; fi  # restarted below with the new configuration
pgrep -x slurmctld >/dev/null || slurmctld || fail "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
pgrep -x slurmd >/dev/null || slurmd || fail "slurmd did not start (see /var/log/slurm/slurmd.log)"

for _ in $(seq 60); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1)
    case "$state" in idle|mix|alloc) echo "local_slurm: node $node is $state, partition debug"; exit 0 ;; esac
    sleep 1
done
fail "the node never became idle (sinfo says '${state:-nothing}'; see /var/log/slurm/)"
