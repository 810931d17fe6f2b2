//! Running one job file's commands against the store.
//!
//! A [`JobExecutor`] owns the job's output and its backup counter. Each
//! command goes to the store as one store call, so it takes effect at one
//! instant (see [`crate::store`]), and commands of one file run in order, so
//! each sees the effects of those before it. Writes and deletes go through
//! a [`Commit`]: the store itself, or (in server mode) a worker's path that
//! also notifies subscribers; reads, `SHOW` and `BACKUP` go to the store.

use super::command::Command;
use super::gate::CommandGate;
use crate::backup::Backups;
use crate::format::{
    backup_file_name, write_pair_list, write_show_lines, ListScratch, DELETE_MISSING, HELP_TEXT,
    READ_MISSING, WAITING,
};
use crate::store::batch::sort_short_by;
use crate::store::{Commit, KeySet, Store, WriteSet};
use crate::token::{Key, Value};
use std::io::{self, Write};
use std::path::PathBuf;
// std: see `StoppableSleeper`.
#[allow(clippy::disallowed_types)]
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where the n-th backup of a job goes: `dir/X-n.bck` for `dir/X.job`.
#[derive(Debug, Clone)]
pub struct BackupNames {
    dir: PathBuf,
    stem: String,
    taken: u64,
}

impl BackupNames {
    /// Names for the backups of the job `dir/stem.job`.
    pub fn new(dir: PathBuf, stem: String) -> Self {
        Self {
            dir,
            stem,
            taken: 0,
        }
    }

    /// The path of the next backup.
    pub fn next_path(&mut self) -> PathBuf {
        self.taken += 1;
        self.dir.join(backup_file_name(&self.stem, self.taken))
    }
}

/// Pauses a job for `WAIT`. The binaries use [`StoppableSleeper`], which a
/// shutdown cuts short; tests may swap in one that does not sleep at all.
pub trait Sleeper: Send + Sync {
    /// Sleeps for `duration` (or less, when the job is being stopped).
    fn sleep(&self, duration: Duration);
}

/// A sleeper has nothing worth showing but its presence.
impl std::fmt::Debug for dyn Sleeper + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sleeper")
    }
}

/// Sleeps in short slices, returning early once `stop` is set, so a
/// shutdown does not wait for a long `WAIT`.
#[derive(Debug, Clone, Copy)]
// std: the stop flag orders nothing (read Relaxed) and no loom model
// runs it; it is the server's shutdown flag, which binaries and tests own.
#[allow(clippy::disallowed_types)]
pub struct StoppableSleeper<'a> {
    /// The flag that cuts a sleep short.
    pub stop: &'a AtomicBool,
}

impl Sleeper for StoppableSleeper<'_> {
    fn sleep(&self, duration: Duration) {
        const SLICE: Duration = Duration::from_millis(20);
        let end = Instant::now() + duration;
        // Relaxed: a stop request carries no data.
        while !self.stop.load(Ordering::Relaxed) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(SLICE));
        }
    }
}

/// Runs commands for one job file, committing its writes and deletes
/// through `C` (by default straight to the store).
#[derive(Debug)]
pub struct JobExecutor<'a, W: Write, C: Commit = &'a dyn Store> {
    store: &'a dyn Store,
    commit: C,
    gate: Option<&'a CommandGate>,
    backups: &'a Backups,
    sleeper: &'a dyn Sleeper,
    out: W,
    backup_names: BackupNames,
    // Reused by every command, so that none is allocated or moved per
    // command.
    sorted_keys: Vec<Key>,
    key_set: KeySet,
    values: Vec<Option<Value>>,
    list_line: ListScratch,
}

impl<'a, W: Write> JobExecutor<'a, W> {
    /// An executor writing the job's output to `out` and committing
    /// straight to `store`.
    pub fn new(
        store: &'a dyn Store,
        backups: &'a Backups,
        sleeper: &'a dyn Sleeper,
        out: W,
        backup_names: BackupNames,
    ) -> Self {
        Self {
            store,
            commit: store,
            gate: None,
            backups,
            sleeper,
            out,
            backup_names,
            sorted_keys: Vec::new(),
            key_set: KeySet::default(),
            values: Vec::new(),
            list_line: ListScratch::default(),
        }
    }
}

impl<'a, W: Write, C: Commit> JobExecutor<'a, W, C> {
    /// Routes this job's writes and deletes through `commit` instead (in
    /// server mode, a worker's notification path).
    pub fn with_commit<D: Commit>(self, commit: D) -> JobExecutor<'a, W, D> {
        JobExecutor {
            store: self.store,
            commit,
            gate: self.gate,
            backups: self.backups,
            sleeper: self.sleeper,
            out: self.out,
            backup_names: self.backup_names,
            sorted_keys: self.sorted_keys,
            key_set: self.key_set,
            values: self.values,
            list_line: self.list_line,
        }
    }

    /// Makes every command that touches the store hold `gate` (see
    /// [`CommandGate`]).
    pub fn with_gate(mut self, gate: Option<&'a CommandGate>) -> Self {
        self.gate = gate;
        self
    }

    /// Runs one command, writing what it prints to the output.
    // Never inlined, so that `benches/callgrind.sh` finds it as one
    // function (a call per command costs a few instructions).
    #[inline(never)]
    pub fn execute(&mut self, command: &Command) -> io::Result<()> {
        let touches_store = !matches!(command, Command::Wait(_) | Command::Help);
        let _entered = self.gate.filter(|_| touches_store).map(CommandGate::enter);
        match command {
            Command::Write(pairs) => {
                self.commit.write(&WriteSet::from_slice(pairs));
                Ok(())
            }
            Command::Read(keys) => self.read(keys),
            Command::Delete(keys) => self.delete(keys),
            Command::Show => {
                let pairs = self.store.snapshot().into_sorted_pairs();
                write_show_lines(&mut self.out, &pairs)
            }
            Command::Wait(ms) => self.wait(*ms),
            Command::Backup => {
                let snapshot = self.store.snapshot();
                self.backups.start(snapshot, self.backup_names.next_path());
                Ok(())
            }
            Command::Help => self.out.write_all(HELP_TEXT.as_bytes()),
        }
    }

    /// Flushes the output and gives it back.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    /// `READ`: every key named, ascending, repeats kept, read at one instant.
    fn read(&mut self, keys: &[Key]) -> io::Result<()> {
        self.sort_keys(keys);
        self.store.read(&self.key_set, &mut self.values);
        let values = &self.values;
        let listed = with_slots(&self.sorted_keys, &self.key_set).map(|(key, slot)| {
            let value = values[slot].as_ref();
            (key, value.unwrap_or(&READ_MISSING))
        });
        write_pair_list(&mut self.out, &mut self.list_line, listed)
    }

    /// `DELETE`: prints the keys that were missing, ascending; a key named
    /// twice is missing the second time, since the first deleted it.
    fn delete(&mut self, keys: &[Key]) -> io::Result<()> {
        self.sort_keys(keys);
        let deletion = self.commit.delete(&self.key_set);
        let removed = &deletion.removed;
        let missing = || {
            let mut previous = None;
            with_slots(&self.sorted_keys, &self.key_set).filter(move |&(_, slot)| {
                let repeat = previous.replace(slot) == Some(slot);
                repeat || !removed[slot]
            })
        };
        if missing().next().is_none() {
            return Ok(());
        }
        write_pair_list(
            &mut self.out,
            &mut self.list_line,
            missing().map(|(key, _)| (key, &DELETE_MISSING)),
        )
    }

    fn wait(&mut self, ms: u64) -> io::Result<()> {
        if ms == 0 {
            return Ok(());
        }
        self.out.write_all(WAITING)?;
        // Whoever watches the output sees "Waiting..." before the pause.
        self.out.flush()?;
        self.sleeper.sleep(Duration::from_millis(ms));
        Ok(())
    }

    /// Puts `keys` in `sorted_keys`, ascending with repeats kept (what the
    /// command prints), and in `key_set` without repeats (what the store is
    /// asked).
    fn sort_keys(&mut self, keys: &[Key]) {
        self.sorted_keys.clear();
        self.sorted_keys.extend_from_slice(keys);
        sort_short_by(&mut self.sorted_keys, |a, b| a < b);
        self.key_set.refill_sorted(&self.sorted_keys);
    }
}

/// Each of `sorted` (ascending, repeats kept) with its slot in `set`, the
/// [`KeySet`] built from it: the number of distinct keys before it, which
/// is its index among the set's keys and in the store's answers. Found by
/// walking the keys in order rather than searching the set for each; when
/// nothing repeats (the set is as long), a key's slot is its index.
fn with_slots<'k>(sorted: &'k [Key], set: &KeySet) -> impl Iterator<Item = (&'k Key, usize)> {
    let repeats = set.keys().len() < sorted.len();
    let mut slot = 0;
    sorted.iter().enumerate().map(move |(i, key)| {
        if !repeats {
            slot = i;
        } else if i > 0 && sorted[i - 1] != *key {
            slot += 1;
        }
        (key, slot)
    })
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::store::mutex::MutexStore;
    use std::sync::mpsc;

    /// How long the reset below holds the gate at most: a command that
    /// waits for it is seen as having waited this long, and fails the test.
    const HOLD_LIMIT: Duration = Duration::from_secs(20);

    struct NoSleep;
    impl Sleeper for NoSleep {
        fn sleep(&self, _: Duration) {}
    }

    #[test]
    fn a_sleeper_shows_as_its_name() {
        assert_eq!(format!("{:?}", &NoSleep as &dyn Sleeper), "Sleeper");
    }

    #[test]
    fn help_and_wait_run_while_a_reset_holds_the_gate() {
        let store = MutexStore::new();
        let backups = Backups::new(1);
        let gate = &CommandGate::default();
        let names = BackupNames::new(std::env::temp_dir(), "unused".into());
        let mut executor =
            JobExecutor::new(&store, &backups, &NoSleep, Vec::new(), names).with_gate(Some(gate));
        let (held_tx, held_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let released_in_time = std::thread::scope(|scope| {
            let reset = scope.spawn(move || {
                gate.exclusively(|| {
                    held_tx.send(()).unwrap();
                    release_rx.recv_timeout(HOLD_LIMIT).is_ok()
                })
            });
            held_rx.recv().unwrap();
            // Neither touches the store, so neither waits for the reset.
            executor.execute(&Command::Help).unwrap();
            executor.execute(&Command::Wait(1)).unwrap();
            // A command that did wait finds the reset gone; the send fails.
            let _ = release_tx.send(());
            reset.join().unwrap()
        });
        assert!(released_in_time, "HELP or WAIT waited for the reset");
        let out = executor.finish().unwrap();
        assert_eq!(out, [HELP_TEXT.as_bytes(), WAITING].concat());
    }
}
