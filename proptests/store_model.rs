//! Each engine against a `BTreeMap` on random single-threaded histories,
//! including snapshots read long after they were taken.

use crate::strategies::{key, value};
use kvs::store::{Engine, KeySet, Snapshot, WriteSet};
use kvs::token::{Key, Value};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Write(Vec<(Key, Value)>),
    Delete(Vec<Key>),
    Read(Vec<Key>),
    TakeSnapshot,
    /// Reads the `n % open`-th open snapshot and closes it.
    ReadSnapshot(usize),
}

/// Commands of one to six keys: the mutex engine keeps a command of at
/// most four keys in fixed arrays and a longer one in its general path,
/// and both must be exercised.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((key(), value()), 1..7).prop_map(Op::Write),
        2 => prop::collection::vec(key(), 1..7).prop_map(Op::Delete),
        3 => prop::collection::vec(key(), 1..7).prop_map(Op::Read),
        1 => Just(Op::TakeSnapshot),
        1 => any::<usize>().prop_map(Op::ReadSnapshot),
    ]
}

type Model = BTreeMap<Key, Value>;

/// An open snapshot and the model's contents when it was taken.
type OpenSnapshot = (Box<dyn Snapshot>, Vec<(Key, Value)>);

fn pairs_of(model: &Model) -> Vec<(Key, Value)> {
    model.iter().map(|(k, v)| (*k, *v)).collect()
}

fn check_history(engine: Engine, ops: &[Op]) -> Result<(), TestCaseError> {
    let store = engine.open();
    let mut model = Model::new();
    let mut open: Vec<OpenSnapshot> = Vec::new();
    let mut last_ts = 0;
    let mut values = Vec::new();
    for op in ops {
        match op {
            Op::Write(pairs) => {
                let set = WriteSet::from_pairs(pairs.iter().copied());
                let ts = store.write(&set);
                prop_assert!(ts > last_ts, "{engine}: timestamps must grow");
                last_ts = ts;
                for (k, v) in pairs {
                    model.insert(*k, *v);
                }
            }
            Op::Delete(keys) => {
                let set = KeySet::from_keys(keys.iter().copied());
                let deletion = store.delete(&set);
                let expected: Vec<bool> = set
                    .keys()
                    .iter()
                    .map(|k| model.remove(k).is_some())
                    .collect();
                prop_assert_eq!(&deletion.removed[..], &expected[..], "{}", engine);
                prop_assert_eq!(deletion.ts.is_some(), expected.contains(&true));
                if let Some(ts) = deletion.ts {
                    prop_assert!(ts > last_ts);
                    last_ts = ts;
                }
            }
            Op::Read(keys) => {
                let set = KeySet::from_keys(keys.iter().copied());
                store.read(&set, &mut values);
                let expected: Vec<Option<Value>> =
                    set.keys().iter().map(|k| model.get(k).copied()).collect();
                prop_assert_eq!(&values, &expected, "{}", engine);
            }
            Op::TakeSnapshot => open.push((store.snapshot(), pairs_of(&model))),
            Op::ReadSnapshot(n) if !open.is_empty() => {
                let (snapshot, expected) = open.remove(n % open.len());
                prop_assert_eq!(snapshot.into_sorted_pairs(), expected, "{}", engine);
            }
            Op::ReadSnapshot(_) => {}
        }
    }
    prop_assert_eq!(store.snapshot().into_sorted_pairs(), pairs_of(&model));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_engine_behaves_like_a_sorted_map(ops in prop::collection::vec(op(), 1..80)) {
        for engine in Engine::ALL {
            check_history(engine, &ops)?;
        }
    }
}
