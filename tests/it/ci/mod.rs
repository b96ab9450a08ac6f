//! What CI jobs reach for other tools for, against the real registry: several tags in one
//! push, dry runs, platform filters with buildx attestations, referrers, machine-readable
//! results, `apply` with manifest-tool's spec, artifacts and compression variants,
//! completions, man pages and progress.

mod apply;
mod artifacts;
mod dry_run;
mod platforms;
mod publish;
mod referrers;
mod shell;
mod tags;
mod variants;
mod verify;
