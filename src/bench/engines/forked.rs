//! Fork-based backups, as the course's reference server and Redis's
//! `BGSAVE` take them, for the sharded engine: the parent read-locks every
//! shard (one instant, no writer mid-update), forks, and releases the locks;
//! the child, a copy-on-write image of that instant, writes the backup file
//! and exits while the parent's writers go on.
//!
//! What it costs shows in three places: the parent's stall (locks held
//! through `fork()`, whose page-table copy grows with resident memory), the
//! writers' latency afterwards (each first write to a page the child still
//! shares takes a copy-on-write fault), and the child's memory.
//!
//! Only the forking thread exists in the child. It touches no lock: the
//! shards are read through the guards its parent held at the fork, and it
//! only allocates (glibc's allocator is fork-safe) and makes system calls
//! before `_exit`.

use crate::format::write_show_lines;
use crate::store::mutex::{Shard, ShardLock, Sharded};
use crate::token::{Key, Value};
use nix::unistd::{fork, ForkResult, Pid};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// A store that can be backed up by forking.
pub trait ForkBackup: Send + Sync {
    /// Forks a child that writes the store, as of the fork, to `path` and
    /// exits (status 0 on success); returns the child's id once the parent
    /// has released everything it held for the fork.
    fn fork_backup(&self, path: &Path) -> nix::Result<Pid>;
}

/// A forking engine has nothing worth showing but its presence.
impl std::fmt::Debug for dyn ForkBackup + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForkBackup")
    }
}

impl<L: ShardLock> ForkBackup for Sharded<L> {
    fn fork_backup(&self, path: &Path) -> nix::Result<Pid> {
        self.with_all_read_locked(|shards| {
            // The child reads the shards through guards already held, uses
            // the allocator (fork-safe in glibc) and system calls only.
            // SAFETY: the child runs only `write_child`, which takes no lock
            // and ends with `_exit`, never returning into the parent's code.
            match unsafe { fork() }? {
                ForkResult::Child => {
                    let status = i32::from(write_child(shards, path).is_err());
                    // SAFETY: `_exit` ends the child at once, running no
                    // destructor or atexit handler of the parent's state.
                    unsafe { libc::_exit(status) }
                }
                ForkResult::Parent { child } => Ok(child),
            }
        })
    }
}

/// The child's work: every pair, sorted, in `SHOW` format, synced.
fn write_child(shards: &[&Shard], path: &Path) -> std::io::Result<()> {
    let total = shards.iter().map(|shard| shard.len()).sum();
    let mut pairs: Vec<(Key, Value)> = Vec::with_capacity(total);
    for shard in shards {
        pairs.extend(shard.iter().map(|(key, value)| (*key, *value)));
    }
    pairs.sort_unstable_by_key(|pair| pair.0);
    let mut out = BufWriter::with_capacity(1 << 16, File::create(path)?);
    write_show_lines(&mut out, &pairs)?;
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_data()
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;
    use crate::store::mutex::MutexStore;
    use crate::store::{Store, WriteSet};
    use crate::token::testing::{key, value};
    use nix::sys::wait::{waitpid, WaitStatus};

    #[test]
    fn the_child_writes_the_store_as_of_the_fork() {
        let store = MutexStore::with_shards(8);
        let pairs: Vec<(Key, Value)> = (0..100)
            .map(|i| (key(&format!("k{i:03}")), value("v")))
            .collect();
        store.write(&WriteSet::from_pairs(pairs.iter().copied()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("forked.bck");
        let child = store.fork_backup(&path).unwrap();
        // Written after the fork: not in the child's image.
        store.write(&WriteSet::from_pairs([(key("k000"), value("later"))]));
        assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
        let mut expected = Vec::new();
        write_show_lines(&mut expected, &pairs).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }
}
