//! A process appending log entries and saving votes is killed with SIGKILL
//! at an arbitrary point; reopening the log then finds every entry whose
//! flush callback had fired (the child prints each index from its
//! callback) and a vote no older than the last one saved.
//!
//! The test runs its own binary again as the child (`current_exe()`, this
//! test by name, and `LSMKIT_RAFT_KILL_CHILD` naming the directory).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};

use lsmkit_raft::{LogEntry, LogStore, Request, StdFs};
use openraft::{CommittedLeaderId, EntryPayload, LogId, Vote};

const CHILD_ENV: &str = "LSMKIT_RAFT_KILL_CHILD";
/// Kill rounds, each continuing the log the previous one left.
const ROUNDS: usize = 3;
/// Flush callbacks a round waits for before killing the child.
const SYNCED_BEFORE_KILL: usize = 300;
/// Appends the child keeps in flight (waiting for their callbacks).
const IN_FLIGHT: usize = 32;

fn entry(term: u64, index: u64) -> LogEntry {
    LogEntry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: EntryPayload::Normal(Request::Put {
            key: format!("key-{index}").into_bytes(),
            value: vec![index as u8; 100 + (index % 7) as usize * 50],
        }),
    }
}

/// The child: continues the log from where it is, forever, with up to
/// `IN_FLIGHT` appends waiting for their sync; prints `synced <index>` from
/// each callback and `vote <term>` after each saved vote.
fn child(dir: &Path) -> ! {
    let log = LogStore::open(dir, Arc::new(StdFs::new())).expect("child: open");
    let mut term = log.vote().expect("child: read vote").map_or(1, |v| v.leader_id().term + 1);
    let mut next = log.log_state().expect("child: log state").last_log_id.map_or(1, |id| id.index + 1);
    // A slot is taken before each append and freed by its callback.
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(IN_FLIGHT);
    let token_rx = Arc::new(Mutex::new(token_rx));
    loop {
        if next % 50 == 0 {
            term += 1;
            log.write_vote(&Vote::new(term, 1)).expect("child: save vote");
            writeln!(std::io::stdout().lock(), "vote {term}").expect("child: stdout");
        }
        token_tx.send(()).expect("child: slot");
        // Entries of several sizes and counts per append.
        let count = 1 + next % 3;
        let batch: Vec<LogEntry> = (next..next + count).map(|i| entry(term, i)).collect();
        let last = next + count - 1;
        let slots = Arc::clone(&token_rx);
        log.append_entries(batch, move |result| {
            result.expect("child: sync");
            writeln!(std::io::stdout().lock(), "synced {last}").expect("child: stdout");
            slots.lock().expect("child: slots").recv().expect("child: slot");
        })
        .expect("child: append");
        next += count;
    }
}

#[test]
fn sigkill_keeps_every_flushed_entry_and_the_vote() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let mut max_synced = 0u64;
    let mut max_vote = 0u64;
    for round in 0..ROUNDS {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sigkill_keeps_every_flushed_entry_and_the_vote",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(process.stdout.take().unwrap());
        let mut synced_this_round = 0;
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(index) = line.strip_prefix("synced ") {
                max_synced = max_synced.max(index.parse().unwrap());
                synced_this_round += 1;
            } else if let Some(term) = line.strip_prefix("vote ") {
                max_vote = max_vote.max(term.parse().unwrap());
            }
            if synced_this_round == SYNCED_BEFORE_KILL {
                break;
            }
        }
        assert_eq!(synced_this_round, SYNCED_BEFORE_KILL, "round {round}: the child stopped early");
        process.kill().unwrap(); // SIGKILL
        process.wait().unwrap();

        let log = LogStore::open(&dir, Arc::new(StdFs::new())).unwrap();
        let entries = log.read_entries(..).unwrap();
        let last = log.log_state().unwrap().last_log_id.unwrap().index;
        assert!(last >= max_synced, "round {round}: last index {last} < flushed {max_synced}");
        // No hole: indexes 1..=last, each with its own content.
        assert_eq!(entries.len() as u64, last);
        for (i, e) in entries.iter().enumerate() {
            let index = i as u64 + 1;
            assert_eq!(e.log_id.index, index);
            assert_eq!(e.payload, entry(e.log_id.leader_id.term, index).payload);
        }
        let vote = log.vote().unwrap().expect("a vote was saved");
        assert!(vote.leader_id().term >= max_vote, "round {round}: vote went back");
    }
}
