//! Redis topologies for the lock tests, made of real `redis-server` processes on loopback:
//! a three-master Redis Cluster (created with `redis-cli --cluster create`) and a Sentinel
//! set (one primary, one replica, three `redis-server --sentinel`). Every process is killed
//! when its owner is dropped, also when a test panics.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::Commands;

use super::eventually_blocking;

/// Longest wait for a topology to settle (cluster state ok, sentinels aware of the replica).
const SETTLE: Duration = Duration::from_secs(30);

/// One `redis-server` process, killed on drop.
pub struct RedisProc {
    /// Its port.
    pub port: u16,
    child: Child,
    args: Vec<String>,
    dir: PathBuf,
}

impl RedisProc {
    /// Starts `redis-server` with `args` (a config file first for a sentinel) in `dir`.
    fn spawn(port: u16, args: &[String], dir: &Path) -> Self {
        let proc = Self {
            port,
            child: Self::run(args, dir),
            args: args.to_vec(),
            dir: dir.to_owned(),
        };
        proc.wait_for_ping();
        proc
    }

    fn run(args: &[String], dir: &Path) -> Child {
        Command::new("redis-server")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install redis-server (apt-get install -y redis-server)")
            })
    }

    /// Starts the process again after [`Self::kill`], same port, flags and directory (a
    /// cluster node keeps its identity from its nodes.conf).
    pub fn restart(&mut self) {
        self.kill();
        self.child = Self::run(&self.args, &self.dir);
        self.wait_for_ping();
    }

    /// A data node (no persistence) on `port`, with `extra` flags.
    fn data_node(port: u16, dir: &Path, extra: &[&str]) -> Self {
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            dir.to_str().expect("utf-8 temp path"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(port, &args, dir)
    }

    /// A synchronous connection, for setting the topology up and inspecting it.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .expect("loopback redis url")
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect to a test redis process")
    }

    fn wait_for_ping(&self) {
        let what = format!("redis-server on port {} answers PING", self.port);
        eventually_blocking(Duration::from_secs(10), &what, || {
            redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?
                .get_connection_with_timeout(Duration::from_millis(200))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        });
    }

    /// Kills the process at once (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free loopback port below 55536 whose cluster bus port (+10000) is free too.
pub fn cluster_port() -> u16 {
    for _ in 0..1000 {
        let port = super::free_port();
        if port < 55536 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port pair (P, P+10000) below 55536");
}

/// A three-master Redis Cluster on loopback, without replicas or with one per master.
pub struct RedisCluster {
    /// The masters, in creation order.
    pub nodes: Vec<RedisProc>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them with `redis-cli --cluster create` and
    /// waits until every node reports `cluster_state:ok`.
    pub fn start() -> Self {
        Self::start_on([cluster_port(), cluster_port(), cluster_port()])
    }

    /// Three masters with one replica each (six servers): `redis-cli --cluster create
    /// --cluster-replicas 1`, then waits until every replica has synced with its master, so
    /// a master that stops is replaced by its replica (after `cluster-node-timeout`, 3 s).
    pub fn start_with_replicas() -> Self {
        let ports: Vec<u16> = (0..6).map(|_| cluster_port()).collect();
        let cluster = Self::create(&ports, 1);
        let deadline = Instant::now() + SETTLE;
        for i in 0..cluster.nodes.len() {
            if cluster.replica_master(i).is_none() {
                continue;
            }
            loop {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut cluster.nodes[i].conn())
                    .expect("INFO replication");
                if info.contains("master_link_status:up") {
                    break;
                }
                assert!(Instant::now() < deadline, "replica {i} never synced");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// The node that replicates node `master`, if any.
    pub fn replica_of(&self, master: usize) -> Option<usize> {
        let id = self.id_of(master);
        (0..self.nodes.len()).find(|&i| self.replica_master(i).as_deref() == Some(id.as_str()))
    }

    /// The id of the master node `i` replicates, if it is a replica.
    fn replica_master(&self, i: usize) -> Option<String> {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut self.nodes[i].conn())
            .expect("INFO replication");
        if !info.contains("role:slave") {
            return None;
        }
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut self.nodes[i].conn())
            .expect("CLUSTER NODES");
        // "<id> <addr> myself,slave <master-id> ..."
        nodes
            .lines()
            .find(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("myself")))
            .and_then(|l| l.split(' ').nth(3))
            .map(str::to_owned)
    }

    /// As [`Self::start`], on the given ports (each below 55536, with port + 10000 free).
    pub fn start_on(ports: [u16; 3]) -> Self {
        Self::create(&ports, 0)
    }

    /// Cluster-enabled servers on `ports`, joined with `replicas` replicas per master.
    fn create(ports: &[u16], replicas: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the cluster");
        let mut nodes = Vec::new();
        for (i, &port) in ports.iter().enumerate() {
            let node_dir = dir.path().join(format!("n{i}"));
            std::fs::create_dir(&node_dir).expect("node dir");
            nodes.push(RedisProc::data_node(
                port,
                &node_dir,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "3000",
                ],
            ));
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-cli ({e}): install redis-server (apt-get install -y redis-server)")
            });
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Self { nodes, _dir: dir };
        cluster.wait_until_ok();
        cluster
    }

    /// Waits (at most 30 s) until every node reports `cluster_state:ok`.
    pub fn wait_until_ok(&self) {
        for node in &self.nodes {
            let what = format!("node {} reports cluster_state:ok", node.port);
            eventually_blocking(SETTLE, &what, || {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut node.conn())
                    .expect("CLUSTER INFO");
                info.contains("cluster_state:ok").then_some(()).ok_or(info)
            });
        }
    }

    /// `redis+cluster://` naming every node as a seed.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// `redis+cluster://` naming only node `i` as the seed.
    pub fn seed_url(&self, i: usize) -> String {
        format!("redis+cluster://127.0.0.1:{}", self.nodes[i].port)
    }

    /// The hash slot of `key`.
    pub fn slot_of(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.nodes[0].conn())
            .expect("CLUSTER KEYSLOT")
    }

    /// The index of the node owning `slot` now.
    pub fn owner_of(&self, slot: u16) -> usize {
        self.owner_of_via(0, slot)
    }

    /// The index of the node owning `slot` now, as node `asked` sees it (for when node 0 may
    /// be down).
    pub fn owner_of_via(&self, asked: usize, slot: u16) -> usize {
        let slots: Vec<(u16, u16, Vec<redis::Value>)> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut self.nodes[asked].conn())
            .map(|v: Vec<Vec<redis::Value>>| {
                v.into_iter()
                    .map(|r| {
                        let num = |v: &redis::Value| match v {
                            redis::Value::Int(i) => *i as u16,
                            other => panic!("CLUSTER SLOTS bound {other:?}"),
                        };
                        let master = match &r[2] {
                            redis::Value::Array(a) => a.clone(),
                            other => panic!("CLUSTER SLOTS node {other:?}"),
                        };
                        (num(&r[0]), num(&r[1]), master)
                    })
                    .collect()
            })
            .expect("CLUSTER SLOTS");
        let (_, _, master) = slots
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
            .expect("every slot is served");
        let port = match &master[1] {
            redis::Value::Int(p) => *p as u16,
            other => panic!("CLUSTER SLOTS port {other:?}"),
        };
        self.nodes
            .iter()
            .position(|n| n.port == port)
            .expect("the owner is one of ours")
    }

    fn id_of(&self, i: usize) -> String {
        redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut self.nodes[i].conn())
            .expect("CLUSTER MYID")
    }

    /// Moves `slot` to node `to` the way `redis-cli --cluster reshard` does: IMPORTING /
    /// MIGRATING, MIGRATE of every key in batches, then SETSLOT NODE on every node.
    pub fn move_slot(&self, slot: u16, to: usize) {
        let from = self.owner_of(slot);
        assert_ne!(from, to, "slot {slot} is on node {to} already");
        let (from_id, to_id) = (self.id_of(from), self.id_of(to));
        let mut src = self.nodes[from].conn();
        let mut dst = self.nodes[to].conn();
        let setslot = |c: &mut redis::Connection, state: &str, id: &str| {
            let _: () = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(state)
                .arg(id)
                .query(c)
                .unwrap_or_else(|e| panic!("CLUSTER SETSLOT {slot} {state}: {e}"));
        };
        setslot(&mut dst, "IMPORTING", &from_id);
        setslot(&mut src, "MIGRATING", &to_id);
        let deadline = Instant::now() + SETTLE;
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(100)
                .query(&mut src)
                .expect("GETKEYSINSLOT");
            if keys.is_empty() {
                break;
            }
            let _: redis::Value = redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(self.nodes[to].port)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("REPLACE")
                .arg("KEYS")
                .arg(&keys)
                .query(&mut src)
                .expect("MIGRATE");
            assert!(Instant::now() < deadline, "slot {slot} never drained");
        }
        setslot(&mut dst, "NODE", &to_id);
        setslot(&mut src, "NODE", &to_id);
        for (i, node) in self.nodes.iter().enumerate() {
            if i != from && i != to {
                setslot(&mut node.conn(), "NODE", &to_id);
            }
        }
    }

    /// Keys held by the whole cluster (DBSIZE summed over the masters).
    pub fn keys(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| {
                redis::cmd("DBSIZE")
                    .query::<u64>(&mut n.conn())
                    .expect("DBSIZE")
            })
            .sum()
    }

    /// Callers queued on lock `name` (default key prefix).
    pub fn queued(&self, name: &str) -> usize {
        self.queued_in(name, "queue")
    }

    /// How many callers queue on `name` in its queue key ending `suffix` (`queue` for a
    /// mutex, `pqueue` for a semaphore or read-write lock).
    pub fn queued_in(&self, name: &str, suffix: &str) -> usize {
        let key = format!("{{streamgate:lock:{name}}}:{suffix}");
        let owner = self.owner_of(self.slot_of(&key));
        self.nodes[owner].conn().zcard(&key).unwrap_or(0)
    }
}

/// The sentinels' name for the primary.
pub const MASTER: &str = "locks";

/// One primary, one replica and three sentinels on loopback.
pub struct RedisSentinels {
    /// The primary at start-up.
    pub primary: RedisProc,
    /// Its replica at start-up.
    pub replica: RedisProc,
    /// The sentinels.
    pub sentinels: Vec<RedisProc>,
    _dir: tempfile::TempDir,
}

impl RedisSentinels {
    /// Starts the primary and its replica, waits for the replication link, then starts
    /// three sentinels monitoring [`MASTER`] (quorum 2, 1 s down-after) and waits until
    /// they know the replica, so a failover can pick it.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the sentinel set");
        let primary = RedisProc::data_node(super::free_port(), dir.path(), &[]);
        let replica_port = super::free_port();
        let replica_dir = dir.path().join("replica");
        std::fs::create_dir(&replica_dir).expect("replica dir");
        let replica = RedisProc::data_node(
            replica_port,
            &replica_dir,
            &["--replicaof", "127.0.0.1", &primary.port.to_string()],
        );
        eventually_blocking(SETTLE, "the replica syncs", || {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut replica.conn())
                .expect("INFO replication");
            info.contains("master_link_status:up")
                .then_some(())
                .ok_or(info)
        });
        let mut sentinels = Vec::new();
        for i in 0..3 {
            let port = super::free_port();
            let sdir = dir.path().join(format!("s{i}"));
            std::fs::create_dir(&sdir).expect("sentinel dir");
            let conf = sdir.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n\
                     sentinel down-after-milliseconds {MASTER} 1000\n\
                     sentinel failover-timeout {MASTER} 5000\n\
                     sentinel parallel-syncs {MASTER} 1\n",
                    dir = sdir.display(),
                    primary = primary.port,
                ),
            )
            .expect("write sentinel.conf");
            let args = vec![
                conf.to_str().expect("utf-8 path").to_owned(),
                "--sentinel".to_owned(),
            ];
            sentinels.push(RedisProc::spawn(port, &args, &sdir));
        }
        let set = Self {
            primary,
            replica,
            sentinels,
            _dir: dir,
        };
        set.wait_until_sentinels_know_the_replica();
        set
    }

    fn wait_until_sentinels_know_the_replica(&self) {
        for s in &self.sentinels {
            let what = format!("sentinel {} sees the replica", s.port);
            eventually_blocking(SETTLE, &what, || {
                let replicas: Vec<redis::Value> = redis::cmd("SENTINEL")
                    .arg("REPLICAS")
                    .arg(MASTER)
                    .query(&mut s.conn())
                    .expect("SENTINEL REPLICAS");
                (!replicas.is_empty()).then_some(()).ok_or("no replica yet")
            });
        }
    }

    /// `redis+sentinel://` naming the three sentinels and [`MASTER`].
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{MASTER}", hosts.join(","))
    }

    /// The primary's port as the first sentinel reports it.
    pub fn primary_port(&self) -> u16 {
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER)
            .query(&mut self.sentinels[0].conn())
            .expect("SENTINEL GET-MASTER-ADDR-BY-NAME");
        port
    }

    /// Runs `SENTINEL FAILOVER` (retrying while the sentinel has no good replica yet) and
    /// waits until the sentinels name the replica as primary.
    pub fn failover(&self) {
        let before = self.primary_port();
        eventually_blocking(SETTLE, "SENTINEL FAILOVER is accepted", || {
            redis::cmd("SENTINEL")
                .arg("FAILOVER")
                .arg(MASTER)
                .query::<()>(&mut self.sentinels[0].conn())
        });
        eventually_blocking(SETTLE, "the sentinels name a new primary", || {
            match self.primary_port() {
                port if port != before => Ok(()),
                port => Err(port),
            }
        });
    }
}
