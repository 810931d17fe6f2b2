//! Generators of keys, values and commands shared by the property tests.

use kvs::job::Command;
use kvs::token::Token;
use proptest::prelude::*;

/// A key from a small alphabet, so that commands often meet on a key.
pub fn key() -> impl Strategy<Value = Token> {
    prop::sample::select(vec!["a", "b", "c", "d", "e", "kk", "z9"])
        .prop_map(|k| Token::try_from(k).unwrap())
}

/// Any valid token: 1 to 40 allowed bytes.
pub fn any_token() -> impl Strategy<Value = Token> {
    prop::collection::vec(
        any::<u8>().prop_filter("token byte", |&b| kvs::token::is_token_byte(b)),
        1..=40,
    )
    .prop_map(|bytes| Token::new(&bytes).unwrap())
}

/// A short value.
pub fn value() -> impl Strategy<Value = Token> {
    "[a-zA-Z0-9_.]{1,8}".prop_map(|v| Token::try_from(v.as_str()).unwrap())
}

/// Any command but `BACKUP` (which writes files), over `key` and `value`.
pub fn command_without_backup() -> impl Strategy<Value = Command> {
    prop_oneof![
        4 => prop::collection::vec((key(), value()), 1..5).prop_map(|p| Command::Write(p.into())),
        3 => prop::collection::vec(key(), 1..5).prop_map(|k| Command::Read(k.into())),
        2 => prop::collection::vec(key(), 1..4).prop_map(|k| Command::Delete(k.into())),
        1 => Just(Command::Show),
        1 => (0u64..3).prop_map(Command::Wait),
        1 => Just(Command::Help),
    ]
}

/// Any command, over arbitrary tokens: for parser round trips.
pub fn any_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        prop::collection::vec((any_token(), any_token()), 1..5)
            .prop_map(|p| Command::Write(p.into())),
        prop::collection::vec(any_token(), 1..5).prop_map(|k| Command::Read(k.into())),
        prop::collection::vec(any_token(), 1..5).prop_map(|k| Command::Delete(k.into())),
        Just(Command::Show),
        any::<u64>().prop_map(Command::Wait),
        Just(Command::Backup),
        Just(Command::Help),
    ]
}
