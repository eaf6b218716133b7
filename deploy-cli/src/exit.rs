//! The exit codes `deploy` documents (also in `deploy --help`).

/// Everything succeeded (or the plan was printed).
pub(crate) const OK: u8 = 0;
/// A step failed (the run report says which, where).
pub(crate) const FAILURE: u8 = 1;
/// Bad usage or configuration: nothing ran.
pub(crate) const USAGE: u8 = 2;
/// An approval gate was refused (or no one was at a terminal to approve
/// it and `--yes` was not given): the run stopped there, nothing failed.
pub(crate) const NOT_APPROVED: u8 = 3;
/// `deploy ci` matched no `[ci]` rule and `on_no_match = "fail"`.
pub(crate) const NO_CI_RULE: u8 = 3;
/// The environment is locked by another run (the error says who, since
/// when, and how to wait or force).
pub(crate) const LOCKED: u8 = 4;
/// Interrupted (Ctrl-C): no new steps started; the report says what ran.
pub(crate) const INTERRUPTED: u8 = 130;
