#!/bin/sh
# cluster.sh - a cluster of two "machines" on this one machine, for running
# MPI over a real network stack: two Linux network namespaces (each with its
# own interfaces, addresses and loopback, like two hosts) joined by a
# virtual Ethernet cable (a veth pair). Needs root and iproute2 (`ip`).
#
#   chapters/08-distributed/cluster.sh up NAME     make hosts 10.208.0.1 and .2
#   chapters/08-distributed/cluster.sh run NAME -np 2 PROGRAM [ARGS...]
#   chapters/08-distributed/cluster.sh down NAME   remove them again
#
# `run` is what you would type on a real cluster, plus one trick:
#
#   mpirun --hostfile hosts --mca plm_rsh_agent ssh -np 2 PROGRAM
#
# mpirun starts a daemon (orted) on every host of the hostfile by running
# `ssh HOST orted ...`; here the "ssh" is a script that enters the host's
# namespace instead of logging in. The ranks then talk through the TCP
# transport (--mca btl self,tcp) over the veth cable: no shared memory
# between them, exactly as between two machines. Nothing leaves the two
# namespaces: 10.208.0.0/24 exists only inside them.
set -eu
usage() { echo "usage: $0 up NAME | run NAME [mpirun options] -np N PROGRAM [ARGS] | down NAME" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
name=$2
shift 2
case $name in *[!a-zA-Z0-9]* | "") echo "cluster.sh: NAME must be letters and digits" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
state=${TMPDIR:-/tmp}/pk08-cluster-$name
nsa=pk08-$name-a
nsb=pk08-$name-b
# Interface names have at most 15 characters.
tag=$(printf '%s' "$name" | cksum | cut -c1-6)
veth_a=p8a$tag
veth_b=p8b$tag
host_a=10.208.0.1
host_b=10.208.0.2

case $cmd in
up)
    [ "$(id -u)" = 0 ] || { echo "cluster.sh: network namespaces need root" >&2; exit 3; }
    command -v ip >/dev/null 2>&1 || { echo "cluster.sh: ip (iproute2) is missing" >&2; exit 3; }
    "$0" down "$name" 2>/dev/null || true
    mkdir -p "$state"
    ip netns add "$nsa"
    ip netns add "$nsb"
    ip link add "$veth_a" type veth peer name "$veth_b"
    ip link set "$veth_a" netns "$nsa"
    ip link set "$veth_b" netns "$nsb"
    ip -n "$nsa" addr add "$host_a/24" dev "$veth_a"
    ip -n "$nsb" addr add "$host_b/24" dev "$veth_b"
    for ns in "$nsa" "$nsb"; do ip -n "$ns" link set lo up; done
    ip -n "$nsa" link set "$veth_a" up
    ip -n "$nsb" link set "$veth_b" up
    # The hostfile: one slot (rank) per host.
    printf '%s slots=1\n%s slots=1\n' "$host_a" "$host_b" > "$state/hosts"
    # The launch agent mpirun calls as `ssh HOST COMMAND...` (an agent
    # named ssh would be given ssh's options too: -x first).
    cat > "$state/agent" <<AGENT
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1; shift
case \$host in
$host_a) ns=$nsa ;;
$host_b) ns=$nsb ;;
*) echo "cluster ssh: unknown host \$host" >&2; exit 255 ;;
esac
# its own network namespace and its own host name (a UTS namespace)
exec ip netns exec "\$ns" unshare --uts /bin/sh -c "hostname \$ns && \$*"
AGENT
    chmod +x "$state/agent"
    echo "cluster $name: hosts $host_a ($nsa) and $host_b ($nsb), hostfile $state/hosts"
    ;;
run)
    [ -f "$state/hosts" ] || { echo "cluster.sh: no cluster $name (run: $0 up $name)" >&2; exit 3; }
    # mpirun runs on the first host; every setting of mpirun.sh applies,
    # but messages go over TCP, and only through the veth cable.
    exec ip netns exec "$nsa" unshare --uts /bin/sh "$0" inside "$name" "$@"
    ;;
inside)
    hostname "$nsa"
    exec /bin/sh "$here/mpirun.sh" \
        --hostfile "$state/hosts" --mca plm_rsh_agent "$state/agent" \
        --mca btl self,tcp --mca btl_tcp_if_include 10.208.0.0/24 \
        --mca oob_tcp_if_include 10.208.0.0/24 "$@"
    ;;
down)
    ip netns del "$nsa" 2>/dev/null || true
    ip netns del "$nsb" 2>/dev/null || true
    rm -rf "$state"
    ;;
*)
    usage
    ;;
esac
