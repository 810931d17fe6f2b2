//! The engines `kvs-bench --store` can drive: the server's two, and two
//! more that exist only here, as points of comparison the paper needs.
//!
//! * [`cow`]: copy-on-write shards, whose snapshot is O(shards) under the
//!   locks: the locked design's best answer to non-blocking backups.
//! * [`plain`]: flurry as a plain key-value map, without versions: what the
//!   lock-free engine would cost without multi-version concurrency control.
//!   It is *not* a correct engine for the server (see its doc).
//! * [`forked`]: fork-based backups of the sharded engine.

pub mod cow;
pub mod forked;
pub mod plain;

use crate::store::lockfree::LockFreeStore;
use crate::store::mutex::{ParkingLotLock, Sharded, StdLock, DEFAULT_SHARDS};
use crate::store::Store;
use std::sync::Arc;

/// An engine `kvs-bench` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum StoreKind {
    /// The server's lock-free multi-version engine.
    #[value(name = "lockfree")]
    LockFree,
    /// The server's sharded reader-writer-lock engine.
    #[value(name = "mutex")]
    Mutex,
    /// Copy-on-write shards (benchmark only).
    #[value(name = "cow")]
    Cow,
    /// flurry without versions; multi-key reads may be torn (benchmark only).
    #[value(name = "flurry")]
    Flurry,
}

/// The reader-writer lock of the sharded engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum LockKind {
    /// `parking_lot::RwLock` (the server's default).
    #[value(name = "parking-lot")]
    ParkingLot,
    /// `std::sync::RwLock`.
    #[value(name = "std")]
    Std,
}

impl StoreKind {
    /// The name `--store` accepts (and reports carry).
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::LockFree => "lockfree",
            StoreKind::Mutex => "mutex",
            StoreKind::Cow => "cow",
            StoreKind::Flurry => "flurry",
        }
    }
}

impl LockKind {
    /// The name `--lock` accepts.
    pub fn name(self) -> &'static str {
        match self {
            LockKind::ParkingLot => "parking-lot",
            LockKind::Std => "std",
        }
    }
}

/// The store under test, plus the lock-free engine's own handle (for its
/// statistics) when that is the engine.
#[derive(Debug)]
pub struct Opened {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The same store as the lock-free engine, if it is that engine.
    pub lockfree: Option<Arc<LockFreeStore>>,
    /// The same store as one that can be backed up by forking, if it can.
    pub forker: Option<Arc<dyn forked::ForkBackup>>,
}

fn sharded<L: crate::store::mutex::ShardLock>(shards: usize) -> Opened {
    let store = Arc::new(Sharded::<L>::with_shards(shards));
    Opened {
        store: Arc::clone(&store) as Arc<dyn Store>,
        lockfree: None,
        forker: Some(store),
    }
}

/// Opens an empty store of `kind`; the sharded engines get `shards` shards
/// (`None`: the server's default), the mutex engine behind `lock` (the
/// copy-on-write engine always uses `parking_lot`'s).
pub fn open(kind: StoreKind, shards: Option<usize>, lock: LockKind) -> Opened {
    let shards = shards.unwrap_or(DEFAULT_SHARDS);
    let store: Arc<dyn Store> = match (kind, lock) {
        (StoreKind::LockFree, _) => {
            let lockfree = Arc::new(LockFreeStore::new());
            return Opened {
                store: Arc::clone(&lockfree) as Arc<dyn Store>,
                lockfree: Some(lockfree),
                forker: None,
            };
        }
        (StoreKind::Mutex, LockKind::ParkingLot) => return sharded::<ParkingLotLock>(shards),
        (StoreKind::Mutex, LockKind::Std) => return sharded::<StdLock>(shards),
        (StoreKind::Cow, _) => Arc::new(cow::CowStore::with_shards(shards)),
        (StoreKind::Flurry, _) => Arc::new(plain::PlainFlurry::new()),
    };
    Opened {
        store,
        lockfree: None,
        forker: None,
    }
}
