//! The command mix: what share of commands read and what share write.
//!
//! Written `READ:WRITE` in percent (`90:10`), so a run's name says its mix
//! the way the paper's tables do. Each command draws a number in `0..100`
//! and reads when it falls below `READ`, so the two shares must add to 100.

use std::fmt;
use std::str::FromStr;

/// Read and write shares, in percent, adding to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    read: u8,
}

/// Why a `--mix` argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    /// Not of the form `READ:WRITE`.
    #[error("expected READ:WRITE in percent (e.g. 90:10), got {0:?}")]
    Shape(String),
    /// A share is not a whole number from 0 to 100.
    #[error("{0:?} is not a percentage (a whole number from 0 to 100)")]
    NotAPercent(String),
    /// The shares do not add to 100.
    #[error("the shares {read}:{write} add to {}, not 100", read + write)]
    NotHundred {
        /// The read share given.
        read: u32,
        /// The write share given.
        write: u32,
    },
}

impl Mix {
    /// A mix with `read` percent reads (at most 100) and the rest writes.
    pub fn with_read_percent(read: u8) -> Option<Self> {
        (read <= 100).then_some(Self { read })
    }

    /// Percent of commands that read.
    pub fn read_percent(self) -> u8 {
        self.read
    }

    /// Percent of commands that write.
    pub fn write_percent(self) -> u8 {
        100 - self.read
    }

    /// Whether a command whose draw in `0..100` is `draw` reads.
    #[inline]
    pub fn reads(self, draw: u32) -> bool {
        draw < u32::from(self.read)
    }
}

impl FromStr for Mix {
    type Err = MixError;

    fn from_str(text: &str) -> Result<Self, MixError> {
        let (read, write) = text
            .split_once(':')
            .ok_or_else(|| MixError::Shape(text.to_string()))?;
        let percent = |part: &str| -> Result<u32, MixError> {
            match part.trim().parse::<u32>() {
                Ok(value) if value <= 100 => Ok(value),
                _ => Err(MixError::NotAPercent(part.to_string())),
            }
        };
        let (read, write) = (percent(read)?, percent(write)?);
        if read + write != 100 {
            return Err(MixError::NotHundred { read, write });
        }
        Ok(Self { read: read as u8 })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.read_percent(), self.write_percent())
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_paper_mixes() {
        for text in ["100:0", "90:10", "50:50", "0:100"] {
            let mix: Mix = text.parse().unwrap();
            assert_eq!(mix.to_string(), text);
        }
        let mix: Mix = "90:10".parse().unwrap();
        assert_eq!((mix.read_percent(), mix.write_percent()), (90, 10));
    }

    #[test]
    fn a_draw_below_the_read_share_reads() {
        let mix: Mix = "90:10".parse().unwrap();
        assert!(mix.reads(0) && mix.reads(89));
        assert!(!mix.reads(90) && !mix.reads(99));
        let writes_only: Mix = "0:100".parse().unwrap();
        assert!(!writes_only.reads(0));
    }

    #[test]
    fn refuses_malformed_mixes() {
        assert_eq!("90".parse::<Mix>(), Err(MixError::Shape("90".into())));
        assert_eq!(
            "90:x".parse::<Mix>(),
            Err(MixError::NotAPercent("x".into()))
        );
        assert_eq!(
            "-1:101".parse::<Mix>(),
            Err(MixError::NotAPercent("-1".into()))
        );
        assert_eq!(
            "60:50".parse::<Mix>(),
            Err(MixError::NotHundred {
                read: 60,
                write: 50
            })
        );
        assert!("90:10:0".parse::<Mix>().is_err());
    }
}
