//! Commit-order merge of the workers' notification rings (in progress).
