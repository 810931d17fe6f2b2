//! The notification path end to end: ports, rings and mergers as
//! [`build`](super::build) wires them.

use super::subscriptions::Subscriber;
use super::*;
use crate::store::{Commit, Engine, KeySet, WriteSet};
use crate::sync::testing::StopOnDrop;
use crate::sync::AtomicBool;
use crate::sync::Ordering;
use crate::token::Token;

fn t(s: &str) -> Token {
    Token::try_from(s).unwrap()
}

fn layout(workers: usize) -> Layout {
    Layout {
        sessions: 2,
        workers,
        ring_capacity: 4,
        max_subscriptions: 1000,
    }
}

#[test]
fn commits_reach_subscribers_in_order_and_deletes_end_subscriptions() {
    for engine in Engine::ALL {
        let Wiring {
            hub,
            mut ports,
            mut mergers,
        } = build(engine.open(), layout(2));
        let subscriber = Subscriber {
            slot: 1,
            generation: 1,
        };
        hub.subscriptions().subscribe(t("a"), subscriber);
        hub.subscriptions().subscribe(t("b"), subscriber);
        let (first, second) = ports.split_at_mut(1);
        first[0].write(&WriteSet::from_pairs([(t("a"), t("1")), (t("c"), t("x"))]));
        second[0].write(&WriteSet::from_pairs([(t("b"), t("2")), (t("a"), t("3"))]));
        first[0].delete(&KeySet::from_keys([t("a"), t("zz")]));
        second[0].write(&WriteSet::from_pairs([(t("a"), t("4"))]));
        let mut out = Vec::new();
        mergers[1].collect_ready(&mut out);
        let seen: Vec<(String, Option<String>)> = out
            .iter()
            .map(|note| (note.key.to_string(), note.value.map(|v| v.to_string())))
            .collect();
        let expected = [
            ("a", Some("1")),
            ("a", Some("3")),
            ("b", Some("2")),
            ("a", None),
        ];
        let expected: Vec<(String, Option<String>)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect();
        assert_eq!(seen, expected, "{engine}");
        let mut other = Vec::new();
        mergers[0].collect_ready(&mut other);
        assert!(other.is_empty());
    }
}

/// Two workers commit writes of shared keys while the slot's merger
/// drains concurrently: the notes leave in the order of the timestamps
/// the commits returned, and none is lost.
#[test]
fn concurrent_commits_leave_the_merge_in_timestamp_order() {
    const COMMITS: usize = 20_000;
    for engine in Engine::ALL {
        let mut layout = layout(2);
        layout.ring_capacity = 1 << 16;
        let Wiring {
            hub,
            ports,
            mut mergers,
        } = build(engine.open(), layout);
        for key in ["a", "b", "c"] {
            hub.subscriptions().subscribe(
                t(key),
                Subscriber {
                    slot: 0,
                    generation: 1,
                },
            );
        }
        let done = AtomicBool::new(false);
        let (stamps, emitted) = std::thread::scope(|scope| {
            let workers: Vec<_> = ports
                .into_iter()
                .enumerate()
                .map(|(w, mut port)| {
                    scope.spawn(move || {
                        let keys = [t("a"), t("b"), t("c")];
                        (0..COMMITS)
                            .map(|i| {
                                let value = t(&format!("{w}-{i}"));
                                let key = keys[(i + w) % 3];
                                (value, port.write(&WriteSet::from_pairs([(key, value)])))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let merger = &mut mergers[0];
            let done = &done;
            let drain = scope.spawn(move || {
                let mut out = Vec::new();
                // Relaxed: the last round below runs after the join.
                while !done.load(Ordering::Relaxed) {
                    merger.collect_ready(&mut out);
                }
                merger.collect_ready(&mut out);
                out
            });
            // Stops the drain even when a writer panics (its join below
            // would unwind past a plain store): the drain's last round,
            // after the writers' joins, is what must see everything.
            let stop_drain = StopOnDrop(done);
            let stamps: std::collections::HashMap<_, _> = workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect();
            drop(stop_drain);
            (stamps, drain.join().unwrap())
        });
        assert_eq!(emitted.len(), 2 * COMMITS, "{engine}: notes lost");
        let order: Vec<_> = emitted
            .iter()
            .map(|note| stamps[&note.value.unwrap()])
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{engine}: out of commit order"
        );
    }
}

#[test]
fn ring_memory_is_counted_in_whole_rings_and_saturates() {
    let note = std::mem::size_of::<StampedNote>() as u64;
    let small = Layout {
        ring_capacity: 5,
        ..layout(3)
    };
    // Two sessions, three workers, five notes rounded up to eight.
    assert_eq!(small.ring_bytes(), 2 * 3 * 8 * note);
    assert!(small.check_ring_memory().is_ok());
    let huge = Layout {
        sessions: usize::MAX,
        ring_capacity: usize::MAX,
        ..layout(usize::MAX)
    };
    assert_eq!(huge.ring_bytes(), u64::MAX);
    let refused = huge.check_ring_memory().unwrap_err();
    assert!(refused.contains("--ring-capacity"), "{refused}");
}

/// A wire of text lines (`key=value`, `key=DELETED`) that writes with no
/// regard for a full pipe, for a test whose pipe never fills.
struct TextWire;

impl writer::Wire for TextWire {
    const NOTE_LEN: usize = 0;

    fn encode(note: &port::Note, bytes: &mut Vec<u8>) {
        let value = note.value.map_or("DELETED".to_string(), |v| v.to_string());
        bytes.extend_from_slice(format!("{}={value}\n", note.key).as_bytes());
    }

    fn write_all(
        pipe: &mut std::fs::File,
        bytes: &[u8],
        _stop: impl Fn() -> bool,
        _wait: std::time::Duration,
        _while_full: impl FnMut(),
    ) -> std::io::Result<()> {
        std::io::Write::write_all(pipe, bytes)
    }
}

/// Opens a session on slot 0 over a fresh pipe and subscribes it to key
/// `a`; returns the pipe's read end.
fn subscribe_a_pipe(hub: &Hub) -> std::os::fd::OwnedFd {
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    let slot = &hub.slots()[0];
    let generation = slot.begin(std::fs::File::from(write_end));
    let subscriber = Subscriber {
        slot: 0,
        generation,
    };
    hub.subscriptions().subscribe(t("a"), subscriber);
    read_end
}

/// Ends `slot`'s session (closing the pipe's write end) and reads what the
/// pipe holds.
fn close_and_read(slot: &Slot, read_end: std::os::fd::OwnedFd) -> String {
    use std::io::Read;
    drop(slot.take_writer_session());
    let mut text = String::new();
    std::fs::File::from(read_end)
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// Regression: a pipe writer told to stop returned at once, dropping the
/// notes of writes that had committed (the server then closed the pipes,
/// so a subscriber never heard of them). Stopped before it ever ran, the
/// writer must still deliver every note committed before the stop, and
/// only then mark its slot done.
#[test]
fn a_stopped_pipe_writer_first_delivers_every_committed_note() {
    for engine in Engine::ALL {
        let Wiring {
            hub,
            mut ports,
            mut mergers,
        } = build(engine.open(), layout(1));
        let read_end = subscribe_a_pipe(&hub);
        let slot = &hub.slots()[0];
        ports[0].write(&WriteSet::from_pairs([(t("a"), t("1"))]));
        ports[0].delete(&KeySet::from_keys([t("a")]));
        let stopped = std::sync::atomic::AtomicBool::new(true);
        writer::run::<TextWire>(slot, mergers.remove(0), 64, &stopped);
        assert!(slot.is_writer_done(), "{engine}");
        let text = close_and_read(slot, read_end);
        assert_eq!(text, "a=1\na=DELETED\n", "{engine}");
    }
}

/// Regression: the last delivery at shutdown collected once, so a note
/// the merge held back behind another worker's commit in progress was
/// dropped. It must wait for that commit to end, then deliver the note.
#[test]
fn the_last_delivery_waits_for_a_commit_in_progress() {
    for engine in Engine::ALL {
        let Wiring {
            hub,
            mut ports,
            mut mergers,
        } = build(engine.open(), layout(2));
        let read_end = subscribe_a_pipe(&hub);
        let slot = &hub.slots()[0];
        let stopped = std::sync::atomic::AtomicBool::new(true);
        let merger = mergers.remove(0);
        let (first, second) = ports.split_at_mut(1);
        std::thread::scope(|scope| {
            let in_progress = second[0].hold_commit_open();
            first[0].write(&WriteSet::from_pairs([(t("a"), t("1"))]));
            // A wait far longer than the test needs: it ends as soon as
            // the commit in progress does.
            let wait = std::time::Duration::from_secs(60);
            let last = scope.spawn(move || {
                writer::deliver_last::<TextWire>(slot, merger, 64, &stopped, wait);
            });
            std::thread::sleep(std::time::Duration::from_millis(5));
            drop(in_progress);
            last.join().unwrap();
        });
        let text = close_and_read(slot, read_end);
        assert_eq!(text, "a=1\n", "{engine}");
    }
}
