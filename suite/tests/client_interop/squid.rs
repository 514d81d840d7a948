//! Squid as a forward proxy behind Digest proxy authentication: `407` with
//! `Proxy-Authenticate`, answered with `Proxy-Authorization`, checked by Squid's
//! `digest_file_auth` helper against a file of plaintext passwords. The client reaches a
//! recording origin through it. Squid hands over a `nextnonce` before a nonce's last use
//! (`nonce_max_count`), and calls a nonce stale once it is older than `nonce_max_duration`.

use std::process::Command;
use std::time::Duration;

use crate::origin::Origin;
use crate::support::{
    Daemon, PASSWORD, REALM, TempDir, USERNAME, WRONG_PASSWORD, assert_nonce_reused,
    assert_one_refused_answer, free_port, get, get_ok, params, proxy_client, running_as_root,
    set_mode,
};

const HELPER: &str = "/usr/lib/squid/digest_file_auth";

struct Squid {
    port: u16,
    _daemon: Daemon,
    _dir: TempDir,
}

/// How long Squid's nonces live, and how many requests each may carry.
struct Nonces {
    max_duration_secs: u64,
    max_count: u32,
}

/// Squid's defaults: 30 minutes, 50 uses.
const DEFAULT_NONCES: Nonces = Nonces {
    max_duration_secs: 1800,
    max_count: 50,
};

impl Squid {
    fn start(nonces: &Nonces) -> Squid {
        let dir = TempDir::new("squid");
        // Squid writes its logs and pid file as the user it drops to.
        set_mode(dir.path(), 0o777);
        let root = dir.path().display().to_string();
        let port = free_port();
        let passwords = dir.write("passwords", &format!("{USERNAME}:{PASSWORD}\n"));
        let user = if running_as_root() {
            "cache_effective_user proxy\n"
        } else {
            ""
        };
        // No cache, no pinger, no DNS beyond loopback: a proxy and its authentication only.
        let config = format!(
            "http_port 127.0.0.1:{port}
pid_filename {root}/squid.pid
cache_log {root}/cache.log
access_log none
cache_store_log none
coredump_dir {root}
cache deny all
pinger_enable off
dns_nameservers 127.0.0.1
visible_hostname client-interop
shutdown_lifetime 0 seconds
{user}auth_param digest program {HELPER} {passwords}
auth_param digest children 1 startup=1 idle=1
auth_param digest realm {REALM}
auth_param digest nonce_max_count {max_count}
auth_param digest nonce_max_duration {max_duration} seconds
acl authenticated proxy_auth REQUIRED
http_access allow authenticated
http_access deny all
",
            passwords = passwords.display(),
            max_count = nonces.max_count,
            max_duration = nonces.max_duration_secs,
        );
        let conf = dir.write("squid.conf", &config);
        let mut command = Command::new("/usr/sbin/squid");
        command.arg("-N").arg("-f").arg(&conf);
        // Squid takes two seconds over SIGTERM, even with shutdown_lifetime 0.
        let daemon =
            Daemon::start("squid", command, port, dir.path().join("cache.log")).kill_when_dropped();
        Squid {
            port,
            _daemon: daemon,
            _dir: dir,
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }
}

#[tokio::test]
async fn logs_in_to_squid_with_proxy_authorization_after_a_407() {
    let origin = Origin::start().await;
    let squid = Squid::start(&DEFAULT_NONCES);
    let (mut client, recording) = proxy_client(squid.addr(), USERNAME, PASSWORD);
    let body = get_ok(&mut client, &origin.url("/dir/index.html")).await;
    assert_eq!(body, "origin saw GET /dir/index.html body=");

    let exchanges = recording.exchanges();
    assert_eq!(exchanges.len(), 2, "{exchanges:#?}");
    assert_eq!(exchanges[0].status, 407);
    assert!(exchanges[0].credentials.is_none());
    assert_eq!(exchanges[1].sent("username"), USERNAME);
    assert_eq!(exchanges[1].sent("realm"), REALM);
    // Squid takes the proxy's credentials off the request it forwards.
    let received = origin.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    assert!(received[0].headers.get("proxy-authorization").is_none());
}

#[tokio::test]
async fn reuses_its_squid_nonce_with_the_next_nc() {
    let origin = Origin::start().await;
    let squid = Squid::start(&DEFAULT_NONCES);
    let (mut client, recording) = proxy_client(squid.addr(), USERNAME, PASSWORD);
    for path in ["/a", "/b", "/c"] {
        let body = get_ok(&mut client, &origin.url(path)).await;
        assert_eq!(body, format!("origin saw GET {path} body="));
    }
    assert_nonce_reused(&recording, 3);
}

#[tokio::test]
async fn takes_squids_nextnonce_before_the_nonce_runs_out() {
    let origin = Origin::start().await;
    // Squid hands over a nextnonce on a nonce's next-to-last use.
    let squid = Squid::start(&Nonces {
        max_count: 3,
        ..DEFAULT_NONCES
    });
    let (mut client, recording) = proxy_client(squid.addr(), USERNAME, PASSWORD);
    for i in 0..6 {
        let path = format!("/{i}");
        let body = get_ok(&mut client, &origin.url(&path)).await;
        assert_eq!(body, format!("origin saw GET {path} body="));
    }
    let exchanges = recording.exchanges();
    // One 407 in all: each new nonce came in a nextnonce, none from a stale refusal.
    assert_eq!(exchanges.len(), 7, "{exchanges:#?}");
    let handed_over: Vec<String> = exchanges
        .iter()
        .filter_map(|e| e.info.as_deref())
        .map(|info| params(info)["nextnonce"].clone())
        .collect();
    assert!(!handed_over.is_empty(), "{exchanges:#?}");
    for (sent, next) in exchanges[1..].iter().zip(&exchanges[2..]) {
        if let Some(info) = sent.info.as_deref() {
            // The request after a nextnonce goes out on it, from nc=1.
            assert_eq!(next.sent("nonce"), params(info)["nextnonce"]);
            assert_eq!(next.sent("nc"), "00000001");
        }
    }
    assert_eq!(origin.received().len(), 6);
}

#[tokio::test]
async fn recovers_from_squids_stale_nonce_without_an_error() {
    let origin = Origin::start().await;
    let squid = Squid::start(&Nonces {
        max_duration_secs: 2,
        ..DEFAULT_NONCES
    });
    let (mut client, recording) = proxy_client(squid.addr(), USERNAME, PASSWORD);
    get_ok(&mut client, &origin.url("/first")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    recording.clear();
    // Squid still lets the first request on an expired nonce through (it only marks the
    // nonce invalid then), and answers the next one with stale=true.
    for path in ["/later", "/again"] {
        let body = get_ok(&mut client, &origin.url(path)).await;
        assert_eq!(body, format!("origin saw GET {path} body="));
    }

    let exchanges = recording.exchanges();
    assert_eq!(exchanges.len(), 3, "{exchanges:#?}");
    let old = exchanges[0].sent("nonce");
    assert_eq!(exchanges[0].status, 200, "{exchanges:#?}");
    assert!(
        exchanges[1].status == 407 && exchanges[1].is_stale(),
        "{exchanges:#?}"
    );
    assert_eq!(exchanges[1].sent("nonce"), old, "{exchanges:#?}");
    // Answered at once on the fresh nonce, from nc=1.
    assert_eq!(exchanges[2].status, 200, "{exchanges:#?}");
    assert_ne!(exchanges[2].sent("nonce"), old);
    assert_eq!(exchanges[2].sent("nc"), "00000001");
    assert_eq!(origin.received().len(), 3);
}

#[tokio::test]
async fn hands_back_squids_final_407_for_a_wrong_password() {
    let origin = Origin::start().await;
    let squid = Squid::start(&DEFAULT_NONCES);
    let (mut client, recording) = proxy_client(squid.addr(), USERNAME, WRONG_PASSWORD);
    let fetched = get(&mut client, &origin.url("/"))
        .await
        .expect("a refusal is a response, not an error");
    assert_eq!(fetched.status, 407, "{fetched:?}");
    assert_one_refused_answer(&recording, 407);
    assert!(origin.received().is_empty());
}
