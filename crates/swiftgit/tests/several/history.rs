//! What the clients recorded about `refs/heads/shared`, and the check that those records are
//! linearizable: the acknowledged pushes form one chain, and no read returns a value older than
//! a push that was acknowledged before the read began.
//!
//! Every shared push is a fast-forward from the value its client read (`old`) to a new commit
//! (`new`) and succeeds only if the ref still holds `old`, so an acknowledged push is an edge
//! `old → new`. Linearizable pushes form one chain from the initial value in which every
//! acknowledged push appears once; two acknowledged pushes from the same `old` (a fork) mean
//! one of them was lost. Times are `Instant`s of one process (the clients are its threads).

use std::collections::HashMap;
use std::time::Instant;

/// One `git ls-remote origin refs/heads/shared`.
#[derive(Debug, Clone)]
pub struct Read {
    pub client: usize,
    /// Before the command was started.
    pub started: Instant,
    pub value: String,
}

/// One acknowledged push of `refs/heads/shared` from `old` to `new`.
#[derive(Debug, Clone)]
pub struct SharedPush {
    pub client: usize,
    pub old: String,
    pub new: String,
    /// After the push command returned.
    pub returned: Instant,
}

/// Checks the records (see the module documentation); returns the chain from `initial` to
/// the newest value, or every violation found.
pub fn check(
    initial: &str,
    pushes: &[SharedPush],
    reads: &[Read],
) -> Result<Vec<String>, Vec<String>> {
    let mut violations = Vec::new();
    let mut after: HashMap<&str, &SharedPush> = HashMap::new();
    for push in pushes {
        if let Some(other) = after.insert(push.old.as_str(), push) {
            violations.push(format!(
                "two acknowledged pushes moved shared from {}: to {} (client {}) and to {} \
                 (client {}); one of them is lost",
                push.old, other.new, other.client, push.new, push.client
            ));
        }
    }
    let mut chain = vec![initial.to_owned()];
    let mut position: HashMap<&str, usize> = HashMap::from([(initial, 0)]);
    while let Some(push) = after.get(chain[chain.len() - 1].as_str()) {
        if position.contains_key(push.new.as_str()) {
            violations.push(format!("the pushes of shared form a cycle at {}", push.new));
            break;
        }
        position.insert(push.new.as_str(), chain.len());
        chain.push(push.new.clone());
    }
    for push in pushes
        .iter()
        .filter(|push| !position.contains_key(push.new.as_str()))
    {
        violations.push(format!(
            "the acknowledged push {} → {} (client {}) is not on the chain from {initial}",
            push.old, push.new, push.client
        ));
    }

    // Chain positions of the pushes in the order they returned, and the newest so far.
    let mut returned: Vec<(Instant, usize)> = pushes
        .iter()
        .filter_map(|push| Some((push.returned, *position.get(push.new.as_str())?)))
        .collect();
    returned.sort();
    let newest_by: Vec<usize> = returned
        .iter()
        .scan(0, |newest, &(_, at)| {
            *newest = (*newest).max(at);
            Some(*newest)
        })
        .collect();
    for read in reads {
        let Some(&at) = position.get(read.value.as_str()) else {
            violations.push(format!(
                "client {} read shared = {}, which no acknowledged push wrote",
                read.client, read.value
            ));
            continue;
        };
        let before = returned.partition_point(|&(time, _)| time < read.started);
        if let Some(&required) = before.checked_sub(1).and_then(|i| newest_by.get(i))
            && at < required
        {
            violations.push(format!(
                "client {} read shared = {} (chain position {at}) after the push to {} \
                 (position {required}) had been acknowledged: a stale read",
                read.client, read.value, chain[required]
            ));
        }
    }
    if violations.is_empty() {
        Ok(chain)
    } else {
        Err(violations)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn push(client: usize, old: &str, new: &str, at: Instant) -> SharedPush {
        SharedPush {
            client,
            old: old.into(),
            new: new.into(),
            returned: at,
        }
    }

    fn read(client: usize, value: &str, at: Instant) -> Read {
        Read {
            client,
            started: at,
            value: value.into(),
        }
    }

    #[test]
    fn coordinator_history_check_accepts_a_chain_and_reads_that_overlap_pushes() {
        let t0 = Instant::now();
        let t = |ms| t0 + Duration::from_millis(ms);
        let pushes = [push(1, "b", "c", t(20)), push(0, "a", "b", t(10))];
        // A read that starts before a push returned may see it or not.
        let reads = [read(2, "a", t(5)), read(2, "b", t(15)), read(2, "c", t(19))];
        assert_eq!(
            check("a", &pushes, &reads),
            Ok(vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn coordinator_history_check_finds_a_fork_a_stale_read_and_a_phantom_value() {
        let t0 = Instant::now();
        let t = |ms| t0 + Duration::from_millis(ms);
        let fork = [push(0, "a", "b", t(10)), push(1, "a", "c", t(20))];
        let violations = check("a", &fork, &[]).expect_err("a fork is lost data");
        assert!(violations[0].contains("two acknowledged pushes moved shared from a"));
        assert!(
            violations[1].contains("is not on the chain"),
            "{violations:?}"
        );

        let pushes = [push(0, "a", "b", t(10))];
        let stale = check("a", &pushes, &[read(1, "a", t(11))]).expect_err("a stale read");
        assert!(stale[0].contains("a stale read"), "{stale:?}");

        let phantom = check("a", &pushes, &[read(1, "z", t(11))]).expect_err("a phantom");
        assert!(phantom[0].contains("which no acknowledged push wrote"));
    }
}
