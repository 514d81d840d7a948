//! What the store learns from the server (`INFO`).

use redis::Value;

/// Why a server is unfit to hold nonces.
#[derive(Clone)]
pub(super) enum Unfit {
    Eviction { maxmemory: u64, policy: String },
    Unknown(&'static str),
}

/// What `INFO` says about each server (each primary of a cluster).
#[derive(Debug, Default, PartialEq)]
pub(super) struct ServerReport {
    pub(super) run_ids: Vec<String>,
    /// `(maxmemory, maxmemory_policy)` per server, as far as `INFO` told.
    memory: Vec<(Option<u64>, Option<String>)>,
}

impl ServerReport {
    pub(super) fn from_info(info: &Value) -> Self {
        let mut texts = Vec::new();
        collect_texts(info, &mut texts);
        let mut report = ServerReport::default();
        for text in texts {
            let field = |name: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                    .map(str::trim)
            };
            // Cluster answers also carry node addresses; only INFO texts name a run_id.
            let Some(run_id) = field("run_id") else {
                continue;
            };
            report.run_ids.push(run_id.to_owned());
            report.memory.push((
                field("maxmemory").and_then(|v| v.parse().ok()),
                field("maxmemory_policy").map(str::to_owned),
            ));
        }
        report.run_ids.sort();
        report
    }

    pub(super) fn unfit(&self) -> Option<Unfit> {
        if self.memory.is_empty() {
            return Some(Unfit::Unknown("run_id"));
        }
        for (maxmemory, policy) in &self.memory {
            let Some(maxmemory) = *maxmemory else {
                return Some(Unfit::Unknown("maxmemory"));
            };
            let Some(policy) = policy else {
                return Some(Unfit::Unknown("maxmemory_policy"));
            };
            // Without a memory limit Redis never evicts, whatever the policy says.
            if maxmemory != 0 && policy != "noeviction" {
                return Some(Unfit::Eviction {
                    maxmemory,
                    policy: policy.clone(),
                });
            }
        }
        None
    }
}

fn collect_texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::BulkString(bytes) => out.push(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(text) | Value::VerbatimString { text, .. } => out.push(text.clone()),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                collect_texts(item, out);
            }
        }
        Value::Map(pairs) => {
            for (_, item) in pairs {
                collect_texts(item, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(text: &str) -> Value {
        Value::BulkString(text.replace('\n', "\r\n").into_bytes())
    }

    #[test]
    fn info_of_a_node_without_limit_is_fit() {
        let report = ServerReport::from_info(&info(
            "# Server\nredis_version:7.0.15\nrun_id:abc\n# Memory\nmaxmemory:0\nmaxmemory_policy:allkeys-lru\n",
        ));
        assert_eq!(report.run_ids, ["abc"]);
        assert!(report.unfit().is_none(), "no limit, no eviction");
    }

    #[test]
    fn any_evicting_policy_under_a_limit_is_unfit() {
        for policy in [
            "allkeys-lru",
            "volatile-ttl",
            "volatile-lru",
            "allkeys-random",
        ] {
            let report = ServerReport::from_info(&info(&format!(
                "run_id:abc\nmaxmemory:1000000\nmaxmemory_policy:{policy}\n"
            )));
            assert!(
                matches!(
                    report.unfit(),
                    Some(Unfit::Eviction {
                        maxmemory: 1_000_000,
                        ..
                    })
                ),
                "{policy}"
            );
        }
        let ok = ServerReport::from_info(&info(
            "run_id:abc\nmaxmemory:1000000\nmaxmemory_policy:noeviction\n",
        ));
        assert!(ok.unfit().is_none());
    }

    #[test]
    fn cluster_info_checks_every_primary_and_hidden_fields_are_unknown() {
        let cluster = Value::Map(vec![
            (
                Value::BulkString(b"127.0.0.1:7000".to_vec()),
                info("run_id:b\nmaxmemory:0\nmaxmemory_policy:noeviction\n"),
            ),
            (
                Value::BulkString(b"127.0.0.1:7001".to_vec()),
                info("run_id:a\nmaxmemory:10\nmaxmemory_policy:volatile-lru\n"),
            ),
        ]);
        let report = ServerReport::from_info(&cluster);
        assert_eq!(report.run_ids, ["a", "b"]);
        assert!(matches!(report.unfit(), Some(Unfit::Eviction { .. })));
        let hidden = ServerReport::from_info(&info("run_id:a\n"));
        assert!(matches!(hidden.unfit(), Some(Unfit::Unknown("maxmemory"))));
        assert!(matches!(
            ServerReport::from_info(&Value::Nil).unfit(),
            Some(Unfit::Unknown(_))
        ));
    }
}
