//! Host ports, as kube-scheduler's NodePorts filter reads them
//! (`pkg/scheduler/framework/plugins/nodeports`, `framework/types.go` `HostPortInfo`): a
//! pod's host ports are `(protocol, hostIP, hostPort)` of its containers' ports with a
//! `hostPort` (for a `hostNetwork` pod, API defaulting sets `hostPort = containerPort`), and
//! two of them conflict when protocol and port are equal and either IP is unset or
//! `0.0.0.0`, or both IPs are equal. The scheduler's failure reason is
//! [`FREE_PORTS_REASON`].

/// The scheduler's words when a node has no free port for the pod.
pub const FREE_PORTS_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

/// One host port a pod takes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    /// `TCP` (the default), `UDP` or `SCTP`.
    pub protocol: String,
    /// Empty or `0.0.0.0`: every address.
    pub host_ip: String,
    pub port: i64,
}

impl HostPort {
    /// A container port as the API server stores it: protocol defaults to TCP, and a
    /// `hostNetwork` pod's container port is also its host port. `None` when the port
    /// takes no host port.
    pub fn of(
        container_port: Option<i64>,
        host_port: Option<i64>,
        protocol: Option<&str>,
        host_ip: Option<&str>,
        host_network: bool,
    ) -> Option<HostPort> {
        let port = match host_port.filter(|p| *p > 0) {
            Some(port) => port,
            None if host_network => container_port.filter(|p| *p > 0)?,
            None => return None,
        };
        Some(HostPort {
            protocol: protocol
                .filter(|p| !p.is_empty())
                .unwrap_or("TCP")
                .to_owned(),
            host_ip: host_ip.unwrap_or("").to_owned(),
            port,
        })
    }

    fn any_address(&self) -> bool {
        self.host_ip.is_empty() || self.host_ip == "0.0.0.0"
    }

    /// Whether both cannot be bound on one node at once.
    pub fn conflicts_with(&self, other: &HostPort) -> bool {
        self.protocol == other.protocol
            && self.port == other.port
            && (self.any_address() || other.any_address() || self.host_ip == other.host_ip)
    }
}

/// Whether any of `wanted` conflicts with any of `taken`.
pub fn ports_conflict<'a>(
    wanted: &[HostPort],
    taken: impl IntoIterator<Item = &'a HostPort>,
) -> bool {
    if wanted.is_empty() {
        return false;
    }
    taken
        .into_iter()
        .any(|t| wanted.iter().any(|w| w.conflicts_with(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(protocol: &str, ip: &str, port: i64) -> HostPort {
        HostPort {
            protocol: protocol.into(),
            host_ip: ip.into(),
            port,
        }
    }

    /// `nodeports/node_ports_test.go` TestNodePorts cases.
    #[test]
    fn host_ports_conflict_as_the_scheduler_decides() {
        let cases = [
            (
                port("UDP", "127.0.0.1", 8080),
                port("UDP", "127.0.0.1", 8080),
                true,
            ),
            (
                port("UDP", "127.0.0.1", 8080),
                port("UDP", "127.0.0.1", 9090),
                false,
            ),
            (
                port("UDP", "127.0.0.1", 8080),
                port("TCP", "127.0.0.1", 8080),
                false,
            ),
            (
                port("TCP", "127.0.0.1", 8080),
                port("TCP", "127.0.0.2", 8080),
                false,
            ),
            (
                port("TCP", "0.0.0.0", 8080),
                port("TCP", "127.0.0.1", 8080),
                true,
            ),
            (port("TCP", "", 8080), port("TCP", "127.0.0.1", 8080), true),
            (
                port("TCP", "127.0.0.1", 8080),
                port("TCP", "0.0.0.0", 8080),
                true,
            ),
            (
                port("UDP", "0.0.0.0", 8080),
                port("TCP", "0.0.0.0", 8080),
                false,
            ),
        ];
        for (a, b, conflict) in cases {
            assert_eq!(a.conflicts_with(&b), conflict, "{a:?} {b:?}");
            assert_eq!(b.conflicts_with(&a), conflict, "{b:?} {a:?}");
        }
    }

    #[test]
    fn host_network_container_ports_are_host_ports_and_tcp_is_the_default() {
        assert_eq!(
            HostPort::of(Some(9100), None, None, None, true),
            Some(port("TCP", "", 9100))
        );
        assert_eq!(HostPort::of(Some(9100), None, None, None, false), None);
        assert_eq!(
            HostPort::of(Some(53), Some(5353), Some("UDP"), Some("10.0.0.1"), false),
            Some(port("UDP", "10.0.0.1", 5353))
        );
        assert_eq!(HostPort::of(Some(80), Some(0), None, None, false), None);
    }
}
