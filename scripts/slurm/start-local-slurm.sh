#!/usr/bin/env bash
# A single-node Slurm on this machine (controller and compute node on localhost), to test the
# workflow's Slurm profile (profiles/slurm/) without a cluster. Its partitions are those of
# profiles/slurm/partitions.yaml: "cpu" (the default) and, where nvidia-smi lists GPUs, "gpu".
#
#   sudo scripts/slurm/start-local-slurm.sh          # install if needed, configure, start
#   sudo scripts/slurm/start-local-slurm.sh stop     # stop the daemons this script started
#
# Needs root and Debian/Ubuntu (apt-get install slurm-wlm munge). Works without systemd (e.g. in
# a container): munged, slurmctld and slurmd are started directly in the background, their logs
# in /var/log/slurm/. No accounting database: jobs are followed with squeue (MinJobAge keeps
# finished jobs visible for 10 minutes), hence `slurm-status-command: squeue` in the profile.
# Process tracking by /proc (proctrack/linuxproc) and no task plugin: no cgroups needed.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
LOGS=/var/log/slurm
PIDS=/run/tfsnn-slurm

stop() {  # the daemons of an earlier start, by their pid files; waits until they are gone
    for daemon in slurmd slurmctld munged; do
        if [[ -f $PIDS/$daemon.pid ]]; then
            pid=$(cat "$PIDS/$daemon.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
            rm -f "$PIDS/$daemon.pid"
        fi
    done
}

if [[ ${1:-start} == stop ]]; then
    stop
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge
fi

host=$(hostname -s)
cpus=$(nproc)
memory_mb=$(awk '/MemTotal/ {print int($2 / 1024) - 512}' /proc/meminfo)  # leave the OS 512 MB
gres_line="" node_gres="" gpu_partition=""
if command -v nvidia-smi >/dev/null && gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU'); [[ ${gpus:-0} -gt 0 ]]; then
    gres_line="GresTypes=gpu"
    node_gres="Gres=gpu:$gpus"
    gpu_partition="PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP"
    : >/etc/slurm/gres.conf
    for ((i = 0; i < gpus; i++)); do echo "NodeName=$host Name=gpu File=/dev/nvidia$i" >>/etc/slurm/gres.conf; done
fi

mkdir -p /etc/slurm "$LOGS" "$PIDS" /var/spool/slurmctld /var/spool/slurmd
cat >"$CONF" <<EOF
# written by scripts/slurm/start-local-slurm.sh: one node, this machine
ClusterName=tfsnn-local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$PIDS/slurmctld.pid
SlurmdPidFile=$PIDS/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
$gres_line
NodeName=$host CPUs=$cpus RealMemory=$memory_mb $node_gres State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
$gpu_partition
EOF

stop
mkdir -p /run/munge && chown munge:munge /run/munge
runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
cp /run/munge/munged.pid "$PIDS/munged.pid"
slurmctld -D >"$LOGS/slurmctld.out" 2>&1 &
slurmd -D >"$LOGS/slurmd.out" 2>&1 &

for _ in $(seq 30); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        sinfo
        exit 0
    fi
    sleep 1
done
echo "start-local-slurm: the node did not become idle in 30 s; see $LOGS/" >&2
sinfo >&2 || true
exit 1
