//! A folder whose modules keep a full order, top to bottom, checked on the source tree: the
//! copy engine's (`copy_stack`) and the registry's (`registry_stack`).

use super::scanner::{modules_of, names_used_in, SourceFile};

/// The modules of `folder` in their order. A module may use those after it in `order`, never
/// those before it (modules on one line share a level and may not use each other); `mod` is the
/// folder's own file, and a file in a module's folder counts as that module.
pub(crate) struct Stack {
    pub folder: &'static [&'static str],
    pub order: &'static [&'static [&'static str]],
    /// Whether a module's unit tests are held to the order too.
    pub unit_tests: bool,
    /// Whether every path into the folder must name its module (`steps::Plan`, not a re-export).
    pub names_modules: bool,
}

impl Stack {
    /// Every file of the folder, as (module, file).
    pub fn files(&self) -> Vec<(String, SourceFile)> {
        modules_of(self.folder)
    }

    fn level(&self, module: &str) -> Option<usize> {
        self.order.iter().position(|level| level.contains(&module))
    }

    /// What `file` names inside the folder: the segment after the folder of each path.
    pub fn uses(&self, file: &SourceFile) -> Vec<String> {
        names_used_in(file, self.folder, self.unit_tests)
    }

    /// `MODULE uses USED` for each use against the order, and why a module is in no level.
    pub fn against_the_order(&self) -> Vec<String> {
        let mut wrong = Vec::new();
        for (module, file) in self.files() {
            let Some(from) = self.level(&module) else {
                wrong.push(format!("{module} is in no level of the stack"));
                continue;
            };
            for used in self.uses(&file) {
                match self.level(&used) {
                    None if self.names_modules => {
                        wrong.push(format!("{module} uses {used} without naming its module"));
                    }
                    Some(to) if used != module && to <= from => {
                        wrong.push(format!("{module} uses {used}"));
                    }
                    _ => {}
                }
            }
        }
        wrong
    }

    /// Every module of the order has a file, so the checks cannot pass on a folder that moved
    /// or was emptied.
    pub fn assert_every_module_is_there(&self, found: &[(String, SourceFile)]) {
        let mut modules: Vec<&str> = found.iter().map(|(module, _)| module.as_str()).collect();
        modules.sort();
        modules.dedup();
        let mut expected: Vec<&str> = self.order.iter().flat_map(|l| l.iter().copied()).collect();
        expected.sort();
        assert_eq!(modules, expected);
    }
}

/// The file of module `name` among a folder's files.
pub(crate) fn file_of<'a>(found: &'a [(String, SourceFile)], name: &str) -> &'a SourceFile {
    let file = found.iter().find(|(module, _)| module == name);
    &file.unwrap_or_else(|| panic!("no module {name}")).1
}

/// `MODULE: WORD` for each module of `found` but those `allowed` whose code (its unit tests too,
/// `with_tests`) holds one of `words`.
pub(crate) fn words_outside(
    found: &[(String, SourceFile)],
    words: &[&str],
    allowed: &[&str],
    with_tests: bool,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (module, file) in found.iter().filter(|(m, _)| !allowed.contains(&m.as_str())) {
        let text = if with_tests {
            file.text.as_str()
        } else {
            file.without_unit_tests()
        };
        let held = words.iter().filter(|word| text.contains(*word));
        wrong.extend(held.map(|word| format!("{module}: {word}")));
    }
    wrong
}
