//! `manifest exists LIST`: exit 0 if the list exists, 1 if not, 125 on other errors.

use super::{find_list, open_store};
use manifest::cli::ExistsArgs;
use manifest::store::StoreError;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(store_root: Option<PathBuf>, args: ExistsArgs) -> ExitCode {
    let store = match open_store(store_root) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::from(125);
        }
    };
    match find_list(&store, &args.list) {
        Ok(_) => ExitCode::SUCCESS,
        Err(StoreError::NotFound(_)) => ExitCode::from(1),
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(125)
        }
    }
}
