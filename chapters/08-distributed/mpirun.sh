#!/bin/sh
# mpirun.sh - Open MPI's mpirun with the settings that running on this one
# machine needs. Use it as you would use mpirun:
#
#   chapters/08-distributed/mpirun.sh -np 2 PROGRAM [ARGUMENTS...]
#
# Each setting below is an environment default (OMPI_MCA_name=value is the
# same as `--mca name value`): an option you give on the command line wins,
# e.g. `--mca btl self,tcp` to send messages through TCP instead of shared
# memory. The tests and the benchmark start every MPI run through this file.
set -eu

# More ranks than cores. Open MPI counts one "slot" per core and refuses to
# start more ranks than slots (4 ranks on a 2-core machine); this lets it.
# (On the command line: --oversubscribe.)
: "${OMPI_MCA_rmaps_base_oversubscribe:=1}"

# Do not pin ranks to cores. Open MPI binds each rank to a core when there
# are no more ranks than cores: good on a machine of your own, bad on a
# shared one, where the core a rank is pinned to may be busy with someone
# else's work while another core idles. (On the command line: --bind-to none.)
: "${OMPI_MCA_hwloc_base_binding_policy:=none}"

# Messages between ranks: the ob1 point-to-point layer over two transports
# ("byte transfer layers"): self (a rank to itself) and vader (shared memory
# between ranks of one machine). No network driver is tried, so there are no
# warnings about missing InfiniBand (openib), UCX or libfabric (ofi)
# hardware, and no time is lost probing for it at start-up.
: "${OMPI_MCA_pml:=ob1}"
: "${OMPI_MCA_btl:=self,vader}"
: "${OMPI_MCA_osc:=^ucx}"
: "${OMPI_MCA_btl_base_warn_component_unused:=0}"

# Large messages: by default the receiver reads them straight out of the
# sender's memory (CMA, process_vm_readv: one copy, and the sender need not
# be running). A container's seccomp filter may forbid that system call, and
# then every large message fails at run time; under a seccomp filter, copy
# through the shared segment instead (two copies, sender and receiver taking
# turns: slower, and much slower when the machine is busy).
if grep -q '^Seccomp:[[:space:]]*[12]' /proc/self/status 2>/dev/null; then
    : "${OMPI_MCA_btl_vader_single_copy_mechanism:=none}"
    export OMPI_MCA_btl_vader_single_copy_mechanism
fi

export OMPI_MCA_rmaps_base_oversubscribe OMPI_MCA_hwloc_base_binding_policy \
       OMPI_MCA_pml OMPI_MCA_btl OMPI_MCA_osc \
       OMPI_MCA_btl_base_warn_component_unused

# Root in a container. mpirun refuses to run as root unless told twice
# (on the command line: --allow-run-as-root).
if [ "$(id -u)" = 0 ]; then
    OMPI_ALLOW_RUN_AS_ROOT=1
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
fi

command -v mpirun >/dev/null 2>&1 || {
    echo "mpirun.sh: mpirun is missing; 'make deps' installs Open MPI (openmpi-bin, libopenmpi-dev)" >&2
    exit 127
}
exec mpirun "$@"
