//! Striped reader-writer locks that make a key's subscriptions and its
//! commits' fan-out exclude each other.
//!
//! Invariant: while a commit holds the stripes of its keys, from before it
//! takes its timestamp until its notifications are pushed (and, for a
//! delete, the deleted keys' subscriptions are ended), no subscribe or
//! unsubscribe of one of those keys runs; and no other commit to a key a
//! delete removes runs either. Writes hold their stripes shared (writes never
//! exclude each other; the merge puts their notifications in commit order),
//! deletes, subscribes and unsubscribes hold them exclusively. Stripes are
//! always taken in ascending index order, so two commits cannot deadlock.
//! See [`super::port`] for what this buys: a subscription's notifications
//! are exactly the commits to its key after it, and a `DELETED` is the last.

use crate::sync::{self, RwLock, RwLockReadGuard, RwLockWriteGuard};
use crate::token::Key;
use smallvec::SmallVec;

/// How many stripes: enough that commits of unrelated keys rarely share one
/// (a delete holds its stripes exclusively), few enough to stay small.
const STRIPES: usize = 256;

/// The stripes of one commit, inline for the usual few keys.
pub type Stripes = SmallVec<[usize; 4]>;

/// How a holder takes its stripes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A write: runs beside other writes; excludes subscribes,
    /// unsubscribes and deletes.
    Concurrent,
    /// A delete, a subscribe or an unsubscribe: excludes everything.
    Exclusive,
}

/// The locks, one per stripe of the key space.
#[derive(Debug)]
pub struct KeyLocks {
    stripes: Box<[RwLock<()>]>,
    /// The engines' fast key hasher: a commit hashes each of its keys
    /// here on every write, and SipHash made that most of the stripes'
    /// cost (paper §9).
    hasher: ahash::RandomState,
}

/// Stripes held (one of the two lists is empty); released when dropped.
#[derive(Debug)]
pub struct StripeGuards<'a> {
    _concurrent: SmallVec<[RwLockReadGuard<'a, ()>; 4]>,
    _exclusive: SmallVec<[RwLockWriteGuard<'a, ()>; 4]>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self::with_stripes(STRIPES)
    }
}

impl KeyLocks {
    /// Locks with `count` stripes (at least one).
    pub fn with_stripes(count: usize) -> Self {
        Self {
            stripes: (0..count.max(1)).map(|_| RwLock::new(())).collect(),
            hasher: ahash::RandomState::new(),
        }
    }

    /// Replaces `stripes` with the stripes of `keys`, ascending and unique:
    /// the order they must be taken in.
    pub fn stripes_of<'k>(&self, keys: impl IntoIterator<Item = &'k Key>, stripes: &mut Stripes) {
        stripes.clear();
        stripes.extend(
            keys.into_iter()
                .map(|key| (self.hasher.hash_one(key) as usize) % self.stripes.len()),
        );
        stripes.sort_unstable();
        stripes.dedup();
    }

    /// Takes `stripes` (ascending, as [`stripes_of`](Self::stripes_of)
    /// gives them) in `mode`, waiting for holders that exclude it.
    pub fn hold(&self, stripes: &[usize], mode: Mode) -> StripeGuards<'_> {
        // A poisoned stripe guards no data (`()`): its holder panicked after
        // or before its commit, and the stripe still excludes as before.
        let mut held = StripeGuards {
            _concurrent: SmallVec::new(),
            _exclusive: SmallVec::new(),
        };
        for &i in stripes {
            let stripe = &self.stripes[i];
            match mode {
                Mode::Concurrent => held._concurrent.push(sync::read(stripe)),
                Mode::Exclusive => held._exclusive.push(sync::write(stripe)),
            }
        }
        held
    }

    /// Takes the stripe of one key exclusively.
    pub fn hold_key(&self, key: &Key) -> StripeGuards<'_> {
        let mut stripes = Stripes::new();
        self.stripes_of([key], &mut stripes);
        self.hold(&stripes, Mode::Exclusive)
    }
}
